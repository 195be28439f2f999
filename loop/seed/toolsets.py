"""The tool sets curated templates are written over, and one fresh session per sample.

A tool set is either a registered executable backend (calculator, filesystem, calendar:
labels are checked by running them) or a library of imported specs (labels are checked
against the tools' JSON Schemas; tool results come from the template).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from looptool.agents.backends import (
    ToolBackend,
    ToolResult,
    UnknownBackendError,
    create_backend,
    get_backend,
)
from looptool.agents.backends.executor import describe_schema_errors, error_result
from looptool.agents.tool_import import import_file
from looptool.schema import ToolCall, ToolSpec


class ToolSetError(ValueError):
    """A tool set cannot be loaded (unknown backend, unreadable or invalid library)."""


@dataclass(frozen=True)
class ToolSet:
    """Named tools; ``backend`` is the registry name when they are executable."""

    name: str
    specs: tuple[ToolSpec, ...]
    backend: str | None
    source: str

    @property
    def executable(self) -> bool:
        return self.backend is not None

    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    def spec(self, name: str) -> ToolSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ToolSetError(f"tool set {self.name!r} has no tool {name!r}{hint}")

    def session(self, scenario: dict[str, Any] | None = None) -> ToolSetSession:
        """A fresh state for one sample (a new backend instance with the scenario loaded)."""
        return ToolSetSession(self, scenario)


def backend_tool_set(name: str) -> ToolSet:
    """The tools of a registered executable backend."""
    try:
        backend_class = get_backend(name)
    except UnknownBackendError as error:
        raise ToolSetError(str(error)) from None
    return ToolSet(name=name, specs=tuple(backend_class.tool_specs()), backend=name,
                   source=f"backend {name}")


def library_tool_set(path: Path) -> ToolSet:
    """The tools of an OpenAI-function spec file; any problem in it is an error."""
    if not path.is_file():
        raise ToolSetError(f"tool library {path} does not exist")
    found, issues = import_file(path)
    if issues:
        raise ToolSetError(f"tool library {path}: " + "; ".join(str(issue) for issue in issues))
    names = [spec.name for spec, _ in found]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ToolSetError(f"tool library {path}: duplicate tool name(s) {duplicates}")
    return ToolSet(name=path.stem, specs=tuple(spec for spec, _ in found), backend=None,
                   source=str(path))


def result_text(value: Any) -> str:
    """A template-given tool result as the tool message's text."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class ToolSetSession:
    """Runs the calls of one sample: on a fresh backend, or checked against the schema."""

    def __init__(self, tool_set: ToolSet, scenario: dict[str, Any] | None = None) -> None:
        self.tool_set = tool_set
        self.backend: ToolBackend | None = None
        if tool_set.backend is not None:
            try:
                self.backend = create_backend(tool_set.backend, scenario)
            except (ValueError, TypeError) as error:
                raise ToolSetError(f"scenario for backend {tool_set.backend!r}: {error}") from None
        elif scenario:
            raise ToolSetError(f"tool set {tool_set.name!r} is not executable; it takes no scenario")

    def run(self, call: ToolCall, given_result: Any = None) -> ToolResult:
        """Execute ``call`` (executable tools) or validate its arguments (library tools,
        whose result is ``given_result``). Never raises; failures have ``ok=False``."""
        names = self.tool_set.names()
        if call.name not in names:
            return error_result(call, f"tool {call.name!r} is not in tool set {self.tool_set.name!r}")
        if self.backend is not None:
            return self.backend.execute(call)
        spec = self.tool_set.spec(call.name)
        problems = describe_schema_errors(spec.parameters, call.arguments)
        if problems:
            return error_result(call, f"invalid arguments for {call.name!r}: " + "; ".join(problems))
        content = result_text(given_result) if given_result is not None else ""
        return ToolResult(name=call.name, call_id=call.id, ok=True, content=content)
