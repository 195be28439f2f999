"""Derive :class:`~looptool.schema.ToolSpec`s from a backend's methods.

Signature + type hints -> JSON Schema (through pydantic ``TypeAdapter``s, one per parameter,
with ``$ref``s inlined and titles dropped); docstring summary -> description; the ``Args:``
section -> parameter descriptions; the return annotation (and ``Returns:`` text) -> ``returns``.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from looptool.agents.backends.base import BackendDefinitionError, ToolBackend, is_marked_not_a_tool
from looptool.schema import ToolSpec

_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Returns|Return|Yields|Raises|Examples?|Notes?|"
    r"See Also|Warnings?|Todo)\s*:\s*$"
)
_ARG_LINE = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(\([^)]*\))?\s*:\s*(?P<text>.*)$")
_SCHEMA_KEYWORDS_WITH_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")


@dataclass(frozen=True)
class ParsedDocstring:
    """The parts of a Google-style docstring a tool spec needs."""

    summary: str = ""
    params: dict[str, str] = field(default_factory=dict)
    returns: str = ""


@dataclass(frozen=True)
class ToolParameter:
    """One parameter of a tool method: how to validate and convert its JSON value."""

    name: str
    adapter: TypeAdapter[Any]
    required: bool
    default_is_none: bool


@dataclass(frozen=True)
class BackendTool:
    """A tool of a backend class: its derived spec and how to call the method."""

    name: str
    spec: ToolSpec
    parameters: dict[str, ToolParameter]


def parse_docstring(doc: str | None) -> ParsedDocstring:
    """Split a Google-style docstring into summary, ``Args:`` entries and ``Returns:`` text."""
    if not doc:
        return ParsedDocstring()
    lines = inspect.cleandoc(doc).splitlines()
    summary_lines: list[str] = []
    params: dict[str, str] = {}
    returns_lines: list[str] = []
    section: str | None = None
    current_param: str | None = None
    arg_indent: int | None = None
    in_summary = True
    for raw in lines:
        stripped = raw.strip()
        header = _SECTION.match(stripped) if raw == raw.lstrip() else None
        if header:
            section = header.group(1).lower()
            in_summary = False
            current_param = None
            arg_indent = None
            continue
        if in_summary:
            if not stripped:
                if summary_lines:
                    in_summary = False
                continue
            summary_lines.append(stripped)
            continue
        if section in ("args", "arguments", "parameters", "params"):
            if not stripped:
                continue
            indent = len(raw) - len(raw.lstrip())
            match = _ARG_LINE.match(stripped)
            if match and (arg_indent is None or indent <= arg_indent):
                arg_indent = indent
                current_param = match.group("name")
                params[current_param] = match.group("text").strip()
            elif current_param is not None:
                params[current_param] = f"{params[current_param]} {stripped}".strip()
        elif section in ("returns", "return") and stripped:
            returns_lines.append(stripped)
    return ParsedDocstring(
        summary=" ".join(summary_lines), params=params, returns=" ".join(returns_lines)
    )


def _inline_refs(schema: Any, defs: dict[str, Any], stack: tuple[str, ...] = ()) -> Any:
    if isinstance(schema, list):
        return [_inline_refs(item, defs, stack) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        ref = schema["$ref"]
        name = ref.rsplit("/", 1)[-1]
        if name in stack:
            raise BackendDefinitionError(f"recursive type {name!r} cannot be used in a tool")
        if name not in defs:
            raise BackendDefinitionError(f"unresolvable reference {ref!r}")
        target = _inline_refs(defs[name], defs, (*stack, name))
        extra = {key: value for key, value in schema.items() if key != "$ref"}
        return {**target, **_inline_refs(extra, defs, stack)}
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("$defs", "definitions"):
            continue
        if key in _SCHEMA_KEYWORDS_WITH_SUBSCHEMA_MAPS and isinstance(value, dict):
            result[key] = {name: _inline_refs(sub, defs, stack) for name, sub in value.items()}
        else:
            result[key] = _inline_refs(value, defs, stack)
    return result


def _drop_titles(schema: Any) -> Any:
    """Remove pydantic's auto ``title`` keys (never a property that happens to be named so)."""
    if isinstance(schema, list):
        return [_drop_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _SCHEMA_KEYWORDS_WITH_SUBSCHEMA_MAPS and isinstance(value, dict):
            result[key] = {name: _drop_titles(sub) for name, sub in value.items()}
        else:
            result[key] = _drop_titles(value)
    return result


def type_to_schema(annotation: Any) -> dict[str, Any]:
    """JSON Schema of one Python type, self-contained (no ``$ref``) and without titles."""
    raw = TypeAdapter(annotation).json_schema()
    schema: dict[str, Any] = _drop_titles(_inline_refs(raw, raw.get("$defs", {})))
    return schema


def _strip_optional(schema: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` with default ``None`` -> ``X`` (omitting the parameter means None)."""
    variants = schema.get("anyOf")
    if isinstance(variants, list):
        non_null = [item for item in variants if item != {"type": "null"}]
        if len(non_null) == 1 and len(non_null) < len(variants):
            rest = {key: value for key, value in schema.items() if key != "anyOf"}
            return {**non_null[0], **rest}
    return schema


def _tool_methods(cls: type[ToolBackend]) -> dict[str, Any]:
    base_names = set(dir(ToolBackend))
    methods: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, ToolBackend) or not issubclass(klass, ToolBackend):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in base_names:
                continue
            if not inspect.isfunction(value):
                methods.pop(name, None)
                continue
            if is_marked_not_a_tool(value):
                methods.pop(name, None)
                continue
            methods[name] = value
    return methods


def derive_tool(cls: type[ToolBackend], name: str, function: Any) -> BackendTool:
    """Derive one tool from a method; a broken rule raises :class:`BackendDefinitionError`."""
    where = f"{cls.__name__}.{name}"
    if inspect.iscoroutinefunction(function) or inspect.isgeneratorfunction(function):
        raise BackendDefinitionError(f"{where}: a tool must be a plain method (not async or a generator)")
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception as error:  # NameError for an unresolvable forward reference, ...
        raise BackendDefinitionError(f"{where}: cannot resolve type hints: {error}") from None
    doc = parse_docstring(inspect.getdoc(function))
    if not doc.summary:
        raise BackendDefinitionError(f"{where}: a tool needs a docstring (its description)")
    signature = inspect.signature(function)
    properties: dict[str, Any] = {}
    required: list[str] = []
    parameters: dict[str, ToolParameter] = {}
    for index, param in enumerate(signature.parameters.values()):
        if index == 0:
            continue  # self
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise BackendDefinitionError(f"{where}: *args/**kwargs cannot be tool parameters")
        if param.kind == param.POSITIONAL_ONLY:
            raise BackendDefinitionError(f"{where}: parameter {param.name!r} is positional-only")
        if param.name not in hints:
            raise BackendDefinitionError(f"{where}: parameter {param.name!r} has no type hint")
        annotation = hints[param.name]
        try:
            schema = type_to_schema(annotation)
            adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        except BackendDefinitionError as error:
            raise BackendDefinitionError(f"{where}: parameter {param.name!r}: {error}") from None
        except Exception as error:
            raise BackendDefinitionError(
                f"{where}: parameter {param.name!r}: type {annotation!r} has no JSON Schema "
                f"({error})"
            ) from None
        has_default = param.default is not param.empty
        default_is_none = has_default and param.default is None
        if default_is_none:
            schema = _strip_optional(schema)
        elif has_default:
            # a default that has no JSON form is simply not shown
            with contextlib.suppress(Exception):
                schema["default"] = adapter.dump_python(param.default, mode="json")
        if doc.params.get(param.name):
            schema = {"description": doc.params[param.name], **schema}
        properties[param.name] = schema
        if not has_default:
            required.append(param.name)
        parameters[param.name] = ToolParameter(
            name=param.name, adapter=adapter, required=not has_default,
            default_is_none=default_is_none,
        )
    json_parameters: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        json_parameters["required"] = required
    returns: dict[str, Any] | None = None
    return_hint = hints.get("return", inspect.Signature.empty)
    if return_hint not in (inspect.Signature.empty, type(None), None, Any):
        try:
            returns = type_to_schema(return_hint)
        except Exception as error:
            raise BackendDefinitionError(
                f"{where}: return type {return_hint!r} has no JSON Schema ({error})"
            ) from None
        if doc.returns:
            returns = {"description": doc.returns, **returns}
    try:
        spec = ToolSpec(
            name=name, description=doc.summary, parameters=json_parameters, returns=returns
        )
    except ValueError as error:
        raise BackendDefinitionError(f"{where}: derived spec is invalid: {error}") from None
    return BackendTool(name=name, spec=spec, parameters=parameters)


_CACHE: dict[type[ToolBackend], dict[str, BackendTool]] = {}


def backend_tools(cls: type[ToolBackend]) -> dict[str, BackendTool]:
    """All tools of a backend class by name, in definition order (derived once per class)."""
    cached = _CACHE.get(cls)
    if cached is None:
        cached = {name: derive_tool(cls, name, fn) for name, fn in _tool_methods(cls).items()}
        if not cached:
            raise BackendDefinitionError(f"{cls.__name__}: a backend needs at least one tool")
        _CACHE[cls] = cached
    return cached
