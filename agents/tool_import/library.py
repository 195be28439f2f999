"""The tool library: imported :class:`ToolSpec`s with their provenance, and how to merge them.

A library is a JSONL file of :class:`LibraryTool` records. Merging follows two rules:

* same name and same parameter schema -> one tool; the provenance lists lengthen (the first
  description wins; a longer later description replaces an empty one);
* same name, different parameter schema -> the later one is renamed to
  ``<name>__<6 hex digits of its schema hash>`` (stable across runs) and a warning is reported.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from looptool.jsonl import read_jsonl, write_jsonl
from looptool.schema import SCHEMA_VERSION, SchemaVersion, ToolSpec

SourceFormat = Literal["openai", "bfcl", "openapi", "library"]


class Provenance(BaseModel):
    """Where one tool came from."""

    model_config = ConfigDict(extra="forbid")

    source: str  # file path as given
    format: SourceFormat
    pointer: str  # JSON pointer / line reference / "GET /users/{id}" inside the source
    original_name: str | None = None  # when the tool was renamed
    parameter_locations: dict[str, str] = Field(
        default_factory=dict, description="OpenAPI: parameter name -> path/query/header/cookie/body"
    )


class LibraryTool(BaseModel):
    """One tool of the library: its spec plus every place it was imported from."""

    model_config = ConfigDict(extra="forbid")

    schema_version: SchemaVersion = SCHEMA_VERSION
    spec: ToolSpec
    provenance: list[Provenance] = Field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name


class ImportIssue(BaseModel):
    """One problem found while importing: the spec is skipped (error) or changed (warning)."""

    model_config = ConfigDict(extra="forbid")

    source: str
    pointer: str
    severity: Literal["error", "warning"] = "error"
    reason: str

    def __str__(self) -> str:
        return f"{self.source} {self.pointer}: {self.severity}: {self.reason}"


class ImportReport(BaseModel):
    """The outcome of importing some files."""

    model_config = ConfigDict(extra="forbid")

    tools: list[LibraryTool] = Field(default_factory=list)
    issues: list[ImportIssue] = Field(default_factory=list)
    merged_duplicates: int = 0
    renamed: int = 0

    @property
    def errors(self) -> list[ImportIssue]:
        return [issue for issue in self.issues if issue.severity == "error"]

    def specs(self) -> list[ToolSpec]:
        return [tool.spec for tool in self.tools]


def schema_key(parameters: dict[str, Any]) -> str:
    """Canonical text of a parameter schema (key order does not matter)."""
    return json.dumps(parameters, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def schema_hash(parameters: dict[str, Any]) -> str:
    return hashlib.sha256(schema_key(parameters).encode()).hexdigest()[:6]


class LibraryBuilder:
    """Accumulates tools, merging duplicates and renaming clashes deterministically."""

    def __init__(self) -> None:
        self._tools: dict[str, LibraryTool] = {}
        self._by_schema: dict[tuple[str, str], str] = {}  # (original name, schema) -> name used
        self.issues: list[ImportIssue] = []
        self.merged = 0
        self.renamed = 0

    def add(self, spec: ToolSpec, provenance: list[Provenance]) -> str:
        """Add one tool; returns the name it has in the library."""
        key = (spec.name, schema_key(spec.parameters))
        existing_name = self._by_schema.get(key)
        if existing_name is not None:
            existing = self._tools[existing_name]
            known = {(item.source, item.pointer) for item in existing.provenance}
            existing.provenance.extend(
                item for item in provenance if (item.source, item.pointer) not in known
            )
            if not existing.spec.description and spec.description:
                existing.spec = existing.spec.model_copy(update={"description": spec.description})
            self.merged += 1
            return existing_name
        name = spec.name
        if name in self._tools:
            name = f"{spec.name}__{schema_hash(spec.parameters)}"
            where = provenance[0] if provenance else None
            self.issues.append(ImportIssue(
                source=where.source if where else "<library>",
                pointer=where.pointer if where else "",
                severity="warning",
                reason=f"tool {spec.name!r} already exists with a different parameter schema; "
                       f"imported as {name!r}",
            ))
            provenance = [item.model_copy(update={"original_name": item.original_name or spec.name})
                          for item in provenance]
            spec = spec.model_copy(update={"name": name})
            self.renamed += 1
        self._by_schema[key] = name
        self._tools[name] = LibraryTool(spec=spec, provenance=list(provenance))
        return name

    def add_tool(self, tool: LibraryTool) -> str:
        original = tool.provenance[0].original_name if tool.provenance else None
        spec = tool.spec.model_copy(update={"name": original}) if original else tool.spec
        return self.add(spec, tool.provenance)

    def report(self, issues: list[ImportIssue] | None = None) -> ImportReport:
        return ImportReport(
            tools=list(self._tools.values()),
            issues=[*(issues or []), *self.issues],
            merged_duplicates=self.merged,
            renamed=self.renamed,
        )


def write_library(path: str | Path, tools: list[LibraryTool]) -> int:
    """Write the library atomically; returns the number of tools."""
    return write_jsonl(path, tools)


def read_library(path: str | Path) -> list[LibraryTool]:
    """Read a library JSONL file (errors name the file and line)."""
    return read_jsonl(path, LibraryTool)
