"""Read tool specs from files and folders into one merged :class:`ImportReport`.

Formats are recognised per file: a JSON/YAML object with an ``openapi`` (or ``swagger``) key
is an OpenAPI document; anything else is read as function specs (OpenAI or BFCL, told apart
per function by the BFCL type names). ``.jsonl`` files — and ``.json`` files that turn out to
be JSON Lines, as BFCL's data files are — are read line by line. A folder contributes its
``*.json``, ``*.jsonl``, ``*.yaml`` and ``*.yml`` files, sorted, recursively.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml

from looptool.agents.tool_import.functions import import_function_document
from looptool.agents.tool_import.library import (
    ImportIssue,
    ImportReport,
    LibraryBuilder,
    LibraryTool,
    Provenance,
)
from looptool.agents.tool_import.openapi import import_openapi_document
from looptool.jsonl import DataFileError, read_text
from looptool.schema import ToolSpec

log = logging.getLogger(__name__)

FormatChoice = Literal["auto", "openai", "bfcl", "openapi"]
SUFFIXES = (".json", ".jsonl", ".yaml", ".yml")


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus the spec files inside named folders (sorted).

    A path that does not exist raises ``FileNotFoundError`` naming it.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(item for item in path.rglob("*")
                                if item.is_file() and item.suffix.lower() in SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return list(dict.fromkeys(files))


def _is_openapi(document: Any) -> bool:
    return isinstance(document, dict) and ("openapi" in document or "swagger" in document)


def _parse_lines(text: str, source: str) -> tuple[list[tuple[Any, str]], list[ImportIssue]]:
    documents: list[tuple[Any, str]] = []
    issues: list[ImportIssue] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            documents.append((json.loads(line), f"line {number}"))
        except json.JSONDecodeError as error:
            issues.append(ImportIssue(source=source, pointer=f"line {number}",
                                      reason=f"not valid JSON: {error.msg} at column {error.colno}"))
    return documents, issues


def parse_file(path: Path) -> tuple[list[tuple[Any, str]], list[ImportIssue]]:
    """The parsed documents of one file, each with a location prefix ("" or "line N")."""
    source = str(path)
    try:
        text = read_text(path)
    except DataFileError as error:
        return [], [ImportIssue(source=source, pointer="/", reason=str(error))]
    except OSError as error:
        return [], [ImportIssue(source=source, pointer="/", reason=f"cannot read: {error}")]
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _parse_lines(text, source)
    if suffix in (".yaml", ".yml"):
        try:
            return [(yaml.safe_load(text), "")], []
        except yaml.YAMLError as error:
            return [], [ImportIssue(source=source, pointer="/", reason=f"not valid YAML: {error}")]
    try:
        return [(json.loads(text), "")], []
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":  # JSON Lines in a .json file (BFCL's data files)
            return _parse_lines(text, source)
        if suffix != ".json":
            try:
                return [(yaml.safe_load(text), "")], []
            except yaml.YAMLError:
                pass
        return [], [ImportIssue(source=source, pointer="/",
                                reason=f"not valid JSON: {error.msg} at line {error.lineno} "
                                       f"column {error.colno}")]


def import_file(
    path: Path, fmt: FormatChoice = "auto"
) -> tuple[list[tuple[ToolSpec, Provenance]], list[ImportIssue]]:
    """The tools of one file and the problems found in it."""
    source = str(path)
    documents, issues = parse_file(path)
    tools: list[tuple[ToolSpec, Provenance]] = []
    for document, location in documents:
        if fmt == "openapi" or (fmt == "auto" and _is_openapi(document)):
            found, problems = import_openapi_document(document, source)
            if location:
                found = [(spec, prov.model_copy(update={"pointer": f"{location}#{prov.pointer}"}))
                         for spec, prov in found]
        else:
            found, problems = import_function_document(document, source, location)
            if fmt in ("openai", "bfcl"):
                found = [(spec, prov.model_copy(update={"format": fmt})) for spec, prov in found]
        tools.extend(found)
        issues.extend(problems)
    return tools, issues


def import_paths(
    paths: Iterable[str | Path],
    fmt: FormatChoice = "auto",
    *,
    existing: list[LibraryTool] | None = None,
) -> ImportReport:
    """Import every spec under ``paths`` (merged onto ``existing`` when given)."""
    builder = LibraryBuilder()
    for tool in existing or []:
        builder.add_tool(tool)
    builder.merged = 0
    issues: list[ImportIssue] = []
    for path in expand_paths(paths):
        found, problems = import_file(path, fmt)
        log.info("%s: %d tool(s), %d problem(s)", path, len(found), len(problems))
        issues.extend(problems)
        for spec, provenance in found:
            builder.add(spec, [provenance])
    return builder.report(issues)
