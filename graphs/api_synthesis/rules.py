"""Rule checks of a synthesized API against its generation request.

Each check returns :class:`Violation`s with a rule code and a message written for the
generator (it is fed back on a retry) and for the rejects file. The checks read the spec
defensively: a malformed spec yields violations, never an exception.

Rules: ``json_schema`` (loads as :class:`looptool.schema.ToolSpec`, valid JSON Schema),
``naming``, ``param_count``, ``param_types``, ``required_mix``, ``return_format``,
``descriptions``; ``duplicate`` lives in :mod:`graphs.api_synthesis.library`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from looptool.agents.api_generator import ApiRequest, split_words
from looptool.schema import SpecError, load_tool_spec

MAX_NAMES_LISTED = 5


class Rule(StrEnum):
    """The rule a violation breaks (also the reject reason's code)."""

    OUTPUT_FORMAT = "output_format"  # the model's reply did not parse as an ApiDraft
    MODEL_ERROR = "model_error"  # the model server failed (not the model's fault)
    JSON_SCHEMA = "json_schema"
    NAMING = "naming"
    PARAM_COUNT = "param_count"
    PARAM_TYPES = "param_types"
    REQUIRED_MIX = "required_mix"
    RETURN_FORMAT = "return_format"
    DESCRIPTIONS = "descriptions"
    DUPLICATE = "duplicate"


class Violation(BaseModel):
    """One broken rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Rule
    message: str

    def __str__(self) -> str:
        return f"[{self.rule.value}] {self.message}"


@dataclass(frozen=True)
class PropertyNode:
    """A property anywhere in the parameter tree; ``path`` like ``filters.max_price``."""

    path: str
    name: str
    schema: Any
    depth: int


def _properties(schema: Any) -> dict[str, Any]:
    if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
        return dict(schema["properties"])
    return {}


def walk_properties(schema: Any, prefix: str = "", depth: int = 0) -> Iterator[PropertyNode]:
    """Every property of an object schema, nested objects and arrays-of-objects included."""
    for name, child in _properties(schema).items():
        path = f"{prefix}{name}"
        yield PropertyNode(path=path, name=str(name), schema=child, depth=depth)
        if not isinstance(child, dict):
            continue
        yield from walk_properties(child, f"{path}.", depth + 1)
        items = child.get("items")
        if isinstance(items, dict):
            yield from walk_properties(items, f"{path}[].", depth + 1)


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:MAX_NAMES_LISTED])
    extra = len(names) - MAX_NAMES_LISTED
    return shown + (f" and {extra} more" if extra > 0 else "")


def _type_of(schema: Any) -> str | None:
    if isinstance(schema, dict) and isinstance(schema.get("type"), str):
        return str(schema["type"])
    return None


def check_json_schema(spec: dict[str, Any]) -> list[Violation]:
    """The spec loads as a ToolSpec: a valid name and valid JSON Schemas."""
    try:
        load_tool_spec(spec)
    except SpecError as error:
        return [Violation(rule=Rule.JSON_SCHEMA, message=str(error))]
    problems = []
    for node in walk_properties(spec.get("parameters")):
        if not isinstance(node.schema, dict):
            continue
        required = node.schema.get("required")
        if isinstance(required, list):
            missing = [name for name in required if name not in _properties(node.schema)]
            if missing:
                problems.append(
                    f"'{node.path}' lists required properties {_listed(missing)} that it does not define"
                )
    return [Violation(rule=Rule.JSON_SCHEMA, message=problem) for problem in problems]


def check_naming(spec: dict[str, Any], request: ApiRequest) -> list[Violation]:
    naming = request.naming
    violations = []
    name = spec.get("name")
    style = f"{naming.convention} ({naming.description})" if naming.description else naming.convention
    if not isinstance(name, str) or not re.fullmatch(naming.function_pattern, name):
        violations.append(
            Violation(
                rule=Rule.NAMING,
                message=f"function name {name!r} is not {style}, e.g. {naming.example_function!r}",
            )
        )
    elif len(split_words(name)) < request.min_function_name_words:
        violations.append(
            Violation(
                rule=Rule.NAMING,
                message=f"function name {name!r} has fewer than {request.min_function_name_words} "
                f"words, e.g. {naming.example_function!r}",
            )
        )
    bad = [
        node.path
        for node in walk_properties(spec.get("parameters"))
        if not re.fullmatch(naming.parameter_pattern, node.name)
    ]
    if bad:
        violations.append(
            Violation(
                rule=Rule.NAMING,
                message=f"parameter names {_listed(bad)} are not {style}, e.g. {naming.example_parameter!r}",
            )
        )
    return violations


def check_param_count(spec: dict[str, Any], request: ApiRequest) -> list[Violation]:
    count = len(_properties(spec.get("parameters")))
    low, high = request.parameters.min_count, request.parameters.max_count
    if low <= count <= high:
        return []
    band = f"exactly {low}" if low == high else f"between {low} and {high}"
    return [
        Violation(
            rule=Rule.PARAM_COUNT,
            message=f"the function has {count} top-level parameters; it must have {band}",
        )
    ]


_ENUM_VALUE_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def _enum_problem(path: str, schema: dict[str, Any]) -> str | None:
    values = schema.get("enum")
    if not isinstance(values, list) or not values:
        return f"'{path}' has an enum that is not a non-empty list"
    if len({repr(value) for value in values}) != len(values):
        return f"'{path}' repeats values in its enum"
    declared = _type_of(schema)
    accepted = _ENUM_VALUE_TYPES.get(declared or "")
    if accepted is not None:
        wrong = [value for value in values if not isinstance(value, accepted) or (declared != "boolean" and isinstance(value, bool))]
        if wrong:
            return f"'{path}' is of type {declared} but its enum holds {_listed([str(v) for v in wrong])}"
    return None


def check_param_types(spec: dict[str, Any], request: ApiRequest) -> list[Violation]:
    wanted = request.parameters
    allowed = set(wanted.allowed_types)
    problems: list[str] = []
    found: set[str] = set()
    for node in walk_properties(spec.get("parameters")):
        schema = node.schema
        if not isinstance(schema, dict):
            problems.append(f"'{node.path}' is not a schema object")
            continue
        declared = _type_of(schema)
        if declared is None and "enum" not in schema:
            problems.append(f"'{node.path}' declares no type")
        elif declared is not None and declared not in allowed:
            problems.append(f"'{node.path}' has type {declared}, which is not allowed here ({', '.join(sorted(allowed))})")
        if "enum" in schema:
            problem = _enum_problem(node.path, schema)
            if problem:
                problems.append(problem)
            else:
                found.add("enum")
        if declared == "array":
            items = schema.get("items")
            if not isinstance(items, dict) or (_type_of(items) is None and "enum" not in items):
                problems.append(f"'{node.path}' is an array without a typed 'items' schema")
            else:
                found.add("array")
                if "enum" in items and _enum_problem(f"{node.path}[]", items) is None:
                    found.add("enum")
                if _type_of(items) == "object" and not _properties(items):
                    problems.append(f"'{node.path}' holds objects without 'properties'")
        if declared == "object":
            if not _properties(schema):
                problems.append(f"'{node.path}' is an object without 'properties'")
            else:
                found.add("object")
    missing = [feature for feature in wanted.must_include if feature not in found]
    if missing:
        labels = {
            "enum": "a parameter with an enum of allowed values",
            "array": "an array parameter with typed items",
            "object": "an object parameter with its own properties",
        }
        problems.append(
            f"the '{wanted.types_option}' constraint needs " + " and ".join(labels[item] for item in missing)
        )
    return [Violation(rule=Rule.PARAM_TYPES, message=problem) for problem in problems]


def check_required_mix(spec: dict[str, Any], request: ApiRequest) -> list[Violation]:
    parameters = spec.get("parameters")
    names = set(_properties(parameters))
    raw = parameters.get("required", []) if isinstance(parameters, dict) else []
    required = {name for name in raw if isinstance(name, str) and name in names} if isinstance(raw, list) else set()
    optional = len(names) - len(required)
    wanted = request.parameters
    problems = []
    if len(required) < wanted.min_required:
        problems.append(f"{len(required)} parameters are required; at least {wanted.min_required} must be")
    if wanted.max_required is not None and len(required) > wanted.max_required:
        problems.append(f"{len(required)} parameters are required; at most {wanted.max_required} may be")
    if optional < wanted.min_optional:
        problems.append(f"{optional} parameters are optional; at least {wanted.min_optional} must be")
    if wanted.max_optional is not None and optional > wanted.max_optional:
        problems.append(
            f"{optional} parameters are optional; at most {wanted.max_optional} may be "
            "(list them in 'required')"
        )
    return [
        Violation(rule=Rule.REQUIRED_MIX, message=f"{problem} ({wanted.required_option})")
        for problem in problems
    ]


def check_return_format(spec: dict[str, Any], request: ApiRequest) -> list[Violation]:
    wanted = request.returns
    returns = spec.get("returns")
    if not isinstance(returns, dict):
        return [Violation(rule=Rule.RETURN_FORMAT, message="the function declares no 'returns' schema")]
    declared = _type_of(returns)
    problems = []
    if declared not in wanted.types:
        problems.append(f"returns has type {declared!r}; it must be {' or '.join(wanted.types)} ({wanted.option})")
    if wanted.items_type is not None and declared == "array":
        items = returns.get("items")
        if _type_of(items) != wanted.items_type:
            problems.append(f"returns must be an array of {wanted.items_type} items; its items are {_type_of(items)!r}")
    if declared == "object":
        fields = _properties(returns)
        if len(fields) < wanted.min_properties:
            problems.append(f"returns has {len(fields)} fields; it must describe at least {wanted.min_properties}")
        missing = [name for name in wanted.required_properties if name not in fields]
        if missing:
            problems.append(f"returns lacks the fields {_listed(missing)}")
    return [Violation(rule=Rule.RETURN_FORMAT, message=problem) for problem in problems]


def _has_text(schema: Any) -> bool:
    return isinstance(schema, dict) and isinstance(schema.get("description"), str) and bool(schema["description"].strip())


def check_descriptions(spec: dict[str, Any], request: ApiRequest) -> list[Violation]:
    problems = []
    description = spec.get("description")
    text = description.strip() if isinstance(description, str) else ""
    if len(text) < request.min_description_chars:
        problems.append(
            f"the function description {text!r} is shorter than {request.min_description_chars} characters"
        )
    elif text.lower() == str(spec.get("name", "")).lower():
        problems.append("the function description only repeats the function name")
    undescribed = [node.path for node in walk_properties(spec.get("parameters")) if not _has_text(node.schema)]
    if undescribed:
        problems.append(f"parameters {_listed(undescribed)} have no description")
    returns = spec.get("returns")
    if isinstance(returns, dict):
        if not _has_text(returns):
            problems.append("'returns' has no description")
        fields = [node.path for node in walk_properties(returns) if not _has_text(node.schema)]
        if fields:
            problems.append(f"returned fields {_listed(fields)} have no description")
    return [Violation(rule=Rule.DESCRIPTIONS, message=problem) for problem in problems]


def check_rules(spec: dict[str, Any], request: ApiRequest) -> list[Violation]:
    """Every rule except ``duplicate``, in a fixed order."""
    return [
        *check_json_schema(spec),
        *check_naming(spec, request),
        *check_param_count(spec, request),
        *check_param_types(spec, request),
        *check_required_mix(spec, request),
        *check_return_format(spec, request),
        *check_descriptions(spec, request),
    ]
