"""ACEBench function descriptions -> OpenAI ``tools`` (function-calling mode).

The data uses Python-flavoured type names (``dict``, ``list``, ``float``, ``tuple``, ``any``,
``list(string)``, ``objectArray``) and, for many distractors, ``arguments`` instead of
``parameters``; both are mapped to valid JSON Schema here.
"""

from __future__ import annotations

from typing import Any

_TYPE_MAP: dict[str, str] = {
    "dict": "object",
    "object": "object",
    "list": "array",
    "tuple": "array",
    "array": "array",
    "float": "number",
    "number": "number",
    "integer": "integer",
    "int": "integer",
    "string": "string",
    "str": "string",
    "boolean": "boolean",
    "bool": "boolean",
}


def to_json_schema(node: Any) -> Any:
    """A JSON-Schema copy of one (possibly non-standard) schema node."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, str):
            lowered = value.strip()
            if lowered in _TYPE_MAP:
                result["type"] = _TYPE_MAP[lowered]
            elif lowered.startswith("list(") and lowered.endswith(")"):
                result["type"] = "array"
                inner = lowered[5:-1]
                result.setdefault("items", {"type": _TYPE_MAP.get(inner, "string")})
            elif lowered == "objectArray":
                result["type"] = "array"
                result.setdefault("items", {"type": "object"})
            # "any" and unknown names: leave the type open
        elif key in ("properties", "patternProperties") and isinstance(value, dict):
            result[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key == "required" and isinstance(value, list):
            result[key] = [item for item in value if isinstance(item, str)]
        else:
            result[key] = to_json_schema(value)
    if "required" in result and isinstance(result.get("properties"), dict):
        result["required"] = [name for name in result["required"] if name in result["properties"]]
    return result


def openai_tool(function: dict[str, Any]) -> dict[str, Any]:
    """One ACEBench function as an OpenAI ``tools`` entry."""
    parameters = function.get("parameters")
    if not isinstance(parameters, dict):
        arguments = function.get("arguments")
        parameters = arguments if isinstance(arguments, dict) and "properties" in arguments else {}
    schema = to_json_schema(parameters) if parameters else {}
    schema["type"] = "object"
    schema.setdefault("properties", {})
    return {
        "type": "function",
        "function": {
            "name": str(function.get("name", "")),
            "description": str(function.get("description", "")),
            "parameters": schema,
        },
    }


def openai_tools(functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [openai_tool(function) for function in functions if isinstance(function, dict) and function.get("name")]
