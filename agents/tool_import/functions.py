"""Function-format tool specs: OpenAI (``{"type": "function", "function": {...}}`` or the bare
function) and BFCL function docs.

BFCL writes parameter schemas in a Python-flavoured dialect: ``"type": "dict"`` for objects,
``"float"``, ``"tuple"``, ``"any"``, and for its Java/JavaScript categories ``"String"``,
``"long"``, ``"HashMap"``, ``"ArrayList"``, ... :func:`bfcl_to_json_schema` maps them to JSON
Schema (recursively, through ``properties``, ``items`` and ``additionalProperties``).

A file may hold one function, a list of functions, ``{"tools": [...]}`` / ``{"functions":
[...]}``, or JSON Lines of any of these; BFCL test entries (``{"id", "question", "function":
[...]}``) contribute their ``function`` list.
"""

from __future__ import annotations

from typing import Any

from looptool.agents.tool_import.library import ImportIssue, Provenance, SourceFormat
from looptool.schema import SpecError, ToolSpec, load_tool_spec

#: BFCL / Python / Java / JavaScript type names -> JSON Schema type (None = any value).
BFCL_TYPES: dict[str, str | None] = {
    "dict": "object", "object": "object", "hashmap": "object", "map": "object",
    "float": "number", "double": "number", "number": "number", "bigdecimal": "number",
    "int": "integer", "integer": "integer", "long": "integer", "short": "integer",
    "byte": "integer", "biginteger": "integer",
    "str": "string", "string": "string", "char": "string", "character": "string",
    "bool": "boolean", "boolean": "boolean",
    "list": "array", "array": "array", "tuple": "array", "arraylist": "array", "set": "array",
    "linkedlist": "array",
    "null": "null", "none": "null",
    "any": None,
}
JSON_SCHEMA_TYPES = {"object", "number", "integer", "string", "boolean", "array", "null"}
_DROPPED_KEYS = {"optional"}  # BFCL-only annotations with no JSON-Schema meaning


class ConversionError(ValueError):
    """A spec cannot be converted; the message says where and why."""


def _map_type(value: Any, where: str) -> tuple[str | list[str] | None, bool]:
    """(JSON-Schema type or None for any, whether the name was a BFCL dialect name)."""
    if isinstance(value, list):
        mapped: list[str] = []
        dialect = False
        for item in value:
            one, was_dialect = _map_type(item, where)
            dialect = dialect or was_dialect
            if one is None:
                return None, True
            mapped.extend(one if isinstance(one, list) else [one])
        return mapped, dialect
    if not isinstance(value, str):
        raise ConversionError(f"{where}: type must be a string, got {value!r}")
    if value in JSON_SCHEMA_TYPES:
        return value, False
    key = value.strip().lower()
    if key not in BFCL_TYPES:
        raise ConversionError(f"{where}: unknown type {value!r}")
    return BFCL_TYPES[key], True


def bfcl_to_json_schema(schema: Any, where: str = "parameters") -> tuple[dict[str, Any], bool]:
    """Convert one (possibly BFCL-dialect) schema; returns it and whether dialect was seen."""
    if not isinstance(schema, dict):
        raise ConversionError(f"{where}: a schema must be an object, got {type(schema).__name__}")
    result: dict[str, Any] = {}
    dialect = False
    for key, value in schema.items():
        if key in _DROPPED_KEYS:
            dialect = True
            continue
        if key == "type":
            mapped, was_dialect = _map_type(value, f"{where}.type")
            dialect = dialect or was_dialect
            if mapped is not None:
                result["type"] = mapped
            if str(value).lower() == "tuple":
                dialect = True
        elif key == "properties":
            if not isinstance(value, dict):
                raise ConversionError(f"{where}.properties must be an object")
            props: dict[str, Any] = {}
            for name, sub in value.items():
                props[name], sub_dialect = bfcl_to_json_schema(sub, f"{where}.properties.{name}")
                dialect = dialect or sub_dialect
            result["properties"] = props
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            result[key], sub_dialect = bfcl_to_json_schema(value, f"{where}.{key}")
            dialect = dialect or sub_dialect
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            converted = []
            for index, sub in enumerate(value):
                item, sub_dialect = bfcl_to_json_schema(sub, f"{where}.{key}[{index}]")
                dialect = dialect or sub_dialect
                converted.append(item)
            result[key] = converted
        else:
            result[key] = value
    return result, dialect


def function_body(entry: Any, where: str) -> dict[str, Any]:
    """The function object of an OpenAI ``tools`` entry or of a bare function."""
    if not isinstance(entry, dict):
        raise ConversionError(f"a tool must be a JSON object, got {type(entry).__name__}")
    if entry.get("type") == "function" and isinstance(entry.get("function"), dict):
        return entry["function"]
    if "function" in entry and isinstance(entry["function"], dict) and "name" not in entry:
        return entry["function"]
    if "name" not in entry:
        raise ConversionError("no 'name' (not a function spec)")
    return entry


def convert_function(entry: Any, where: str) -> tuple[ToolSpec, SourceFormat]:
    """One function spec (OpenAI or BFCL) -> a validated ToolSpec and the format it was in."""
    body = function_body(entry, where)
    parameters = body.get("parameters", {"type": "object", "properties": {}})
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    converted, dialect = bfcl_to_json_schema(parameters, "parameters")
    converted.setdefault("type", "object")
    converted.setdefault("properties", {})
    returns = body.get("response") or body.get("returns")
    returns_schema: dict[str, Any] | None = None
    if isinstance(returns, dict):
        try:
            returns_schema, _ = bfcl_to_json_schema(returns, "returns")
        except ConversionError:
            returns_schema = None  # a return description in a dialect we cannot map is dropped
    data = {
        "name": body.get("name"),
        "description": body.get("description") or "",
        "parameters": converted,
        "returns": returns_schema,
    }
    if not isinstance(data["name"], str):
        raise ConversionError(f"'name' must be a string, got {data['name']!r}")
    try:
        spec = load_tool_spec(data)
    except SpecError as error:
        raise ConversionError(str(error)) from None
    return spec, ("bfcl" if dialect else "openai")


def function_entries(document: Any, where: str) -> list[tuple[Any, str]]:
    """The function specs inside one parsed JSON value, each with its JSON pointer."""
    if isinstance(document, list):
        found: list[tuple[Any, str]] = []
        for index, item in enumerate(document):
            found.extend(function_entries(item, f"{where}/{index}"))
        return found
    if isinstance(document, dict):
        for key in ("tools", "functions"):
            if isinstance(document.get(key), list):
                return function_entries(document[key], f"{where}/{key}")
        if isinstance(document.get("function"), list):  # a BFCL test entry
            return function_entries(document["function"], f"{where}/function")
    return [(document, where or "/")]


def import_function_document(
    document: Any, source: str, where: str = ""
) -> tuple[list[tuple[ToolSpec, Provenance]], list[ImportIssue]]:
    """Every function spec of a parsed JSON value; bad ones become issues."""
    tools: list[tuple[ToolSpec, Provenance]] = []
    issues: list[ImportIssue] = []
    for entry, pointer in function_entries(document, where):
        try:
            spec, fmt = convert_function(entry, pointer)
        except ConversionError as error:
            body = entry.get("function", entry) if isinstance(entry, dict) else None
            name = body.get("name") if isinstance(body, dict) else None
            label = f" ({name})" if isinstance(name, str) else ""
            issues.append(ImportIssue(source=source, pointer=f"{pointer}{label}", reason=str(error)))
            continue
        tools.append((spec, Provenance(source=source, format=fmt, pointer=pointer)))
    return tools, issues
