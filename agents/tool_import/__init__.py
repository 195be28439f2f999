"""Tool collection: import tool specs from OpenAI function JSON/JSONL, BFCL function docs and
OpenAPI 3 documents into a tool library (JSONL of :class:`LibraryTool`: spec + provenance).

Invalid specs are reported one by one (:class:`ImportIssue`, with file, JSON pointer and
reason) and skipped; the rest import. Same name + same parameter schema -> merged; same name
with a different schema -> renamed ``<name>__<hash>`` with a warning.

    report = import_paths(["specs/petstore.yaml", "bfcl/BFCL_v3_simple.json"])
    write_library("tools.jsonl", report.tools)

CLI: ``looptool tools import PATH... --output tools.jsonl``.
"""

from looptool.agents.tool_import.functions import bfcl_to_json_schema, convert_function
from looptool.agents.tool_import.library import (
    ImportIssue,
    ImportReport,
    LibraryBuilder,
    LibraryTool,
    Provenance,
    read_library,
    write_library,
)
from looptool.agents.tool_import.loader import expand_paths, import_file, import_paths
from looptool.agents.tool_import.openapi import import_openapi_document, sanitize_name

__all__ = [
    "ImportIssue",
    "ImportReport",
    "LibraryBuilder",
    "LibraryTool",
    "Provenance",
    "bfcl_to_json_schema",
    "convert_function",
    "expand_paths",
    "import_file",
    "import_openapi_document",
    "import_paths",
    "read_library",
    "sanitize_name",
    "write_library",
]
