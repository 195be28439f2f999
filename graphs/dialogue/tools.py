"""Where a run's tools come from: a tool library file, or the registered executable backends."""

from __future__ import annotations

from pathlib import Path

from looptool.jsonl import DataFileError, iter_jsonl_dicts
from looptool.schema import SpecError, ToolSpec, load_tool_spec


def load_tool_library(path: Path) -> list[ToolSpec]:
    """Tool specs from a JSONL file: library records (``{"spec": {...}, "provenance": ...}``,
    as ``looptool tools import`` writes), bare specs, or OpenAI ``{"type": "function", ...}``
    entries. Bad lines fail with the file, line and reason; duplicate names keep the first."""
    specs: dict[str, ToolSpec] = {}
    for number, record in enumerate(iter_jsonl_dicts(path), start=1):
        body = record.get("spec", record)
        if not isinstance(body, dict):
            raise DataFileError(f"{path}:{number}: 'spec' must be an object")
        try:
            spec = ToolSpec.from_openai(body) if body.get("type") == "function" else load_tool_spec(body)
        except SpecError as error:
            raise DataFileError(f"{path}:{number}: {error}") from None
        specs.setdefault(spec.name, spec)
    if not specs:
        raise DataFileError(f"{path}: no tools in the library")
    return list(specs.values())


def backend_tool_specs() -> list[ToolSpec]:
    """The specs of every registered executable backend (built-in and entry points)."""
    from looptool.agents.backends.registry import REGISTRY

    specs: dict[str, ToolSpec] = {}
    for backend in REGISTRY.values():
        for spec in backend.tool_specs():
            specs.setdefault(spec.name, spec)
    return list(specs.values())
