"""Each rule check detects its violation; a conforming spec passes them all."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from looptool.agents.api_generator import ApiDraft, ApiRequest, draft_to_spec
from looptool.graphs.api_synthesis.library import KnownTools, canonical_schema
from looptool.graphs.api_synthesis.rules import Rule, check_rules
from looptool.graphs.api_synthesis.sampling import ConstraintPath, context_leaf, merge_request
from looptool.graphs.api_synthesis.trees import load_constraint_tree, load_context_tree
from tests.graphs.api_synthesis.drafts import valid_draft

CONTEXT = load_context_tree()
CONSTRAINTS = load_constraint_tree()


def make_request(**choices: str) -> ApiRequest:
    path = ConstraintPath(
        naming_convention=choices.get("naming_convention", "snake_case"),
        parameter_count=choices.get("parameter_count", "moderate"),
        parameter_types=choices.get("parameter_types", "rich_mix"),
        required_mix=choices.get("required_mix", "required_and_optional"),
        return_format=choices.get("return_format", "json_object"),
    )
    return merge_request(context_leaf(CONTEXT, 0, 0), CONSTRAINTS, path, index=0)


def spec_for(request: ApiRequest) -> dict[str, Any]:
    return draft_to_spec(ApiDraft.model_validate(valid_draft(request)))


@pytest.mark.parametrize("convention", ["snake_case", "camelCase", "kebab-case"])
@pytest.mark.parametrize("types", ["scalars_only", "with_enum", "with_array", "with_nested_object", "rich_mix"])
@pytest.mark.parametrize("returns", ["json_object", "list_of_objects", "scalar_value", "status_message"])
def test_conforming_specs_pass(convention: str, types: str, returns: str) -> None:
    request = make_request(naming_convention=convention, parameter_types=types, return_format=returns)
    assert check_rules(spec_for(request), request) == []


def _first_param(spec: dict[str, Any]) -> str:
    return next(iter(spec["parameters"]["properties"]))


def rename_param_camel(spec: dict[str, Any]) -> None:
    properties = spec["parameters"]["properties"]
    first = _first_param(spec)
    properties["badCamelName"] = properties.pop(first)
    spec["parameters"]["required"] = [name if name != first else "badCamelName" for name in spec["parameters"].get("required", [])]


def drop_params(spec: dict[str, Any]) -> None:
    properties = spec["parameters"]["properties"]
    keep = _first_param(spec)
    spec["parameters"]["properties"] = {keep: properties[keep]}
    spec["parameters"]["required"] = [keep]


def drop_param_description(spec: dict[str, Any]) -> None:
    spec["parameters"]["properties"][_first_param(spec)]["description"] = "  "


def make_schema_invalid(spec: dict[str, Any]) -> None:
    spec["parameters"]["properties"][_first_param(spec)]["type"] = "text"


def array_items_as_string(spec: dict[str, Any]) -> None:
    for schema in spec["parameters"]["properties"].values():
        if schema["type"] == "array":
            schema["items"] = "string"


def remove_enums(spec: dict[str, Any]) -> None:
    for schema in spec["parameters"]["properties"].values():
        schema.pop("enum", None)


def everything_required(spec: dict[str, Any]) -> None:
    spec["parameters"]["required"] = list(spec["parameters"]["properties"])


def wrong_return_type(spec: dict[str, Any]) -> None:
    spec["returns"] = {"type": "string", "description": "Text."}


def enum_value_type_mismatch(spec: dict[str, Any]) -> None:
    for schema in spec["parameters"]["properties"].values():
        if "enum" in schema:
            schema["type"] = "integer"


CASES: list[tuple[str, Callable[[dict[str, Any]], None], Rule, str]] = [
    ("function name in camelCase", lambda s: s.update(name="searchStockLevels"), Rule.NAMING, "is not snake_case"),
    ("one-word function name", lambda s: s.update(name="search"), Rule.NAMING, "fewer than 2 words"),
    ("parameter in camelCase", rename_param_camel, Rule.NAMING, "'badCamelName'"),
    ("too few parameters", drop_params, Rule.PARAM_COUNT, "has 1 top-level parameters"),
    ("no function description", lambda s: s.update(description=""), Rule.DESCRIPTIONS, "shorter than 12"),
    ("no parameter description", drop_param_description, Rule.DESCRIPTIONS, "have no description"),
    ("invalid JSON Schema type", make_schema_invalid, Rule.JSON_SCHEMA, "not a valid JSON Schema"),
    ("array items not a schema", array_items_as_string, Rule.JSON_SCHEMA, "not a valid JSON Schema"),
    ("missing enum", remove_enums, Rule.PARAM_TYPES, "an enum of allowed values"),
    ("enum values of the wrong type", enum_value_type_mismatch, Rule.PARAM_TYPES, "its enum holds"),
    ("no optional parameter", everything_required, Rule.REQUIRED_MIX, "at least 1 must be"),
    ("wrong return type", wrong_return_type, Rule.RETURN_FORMAT, "must be object"),
    ("no returns", lambda s: s.pop("returns"), Rule.RETURN_FORMAT, "no 'returns'"),
]


@pytest.mark.parametrize(("label", "mutate", "rule", "words"), CASES, ids=[case[0] for case in CASES])
def test_each_violation_is_detected(label: str, mutate: Callable[[dict[str, Any]], None], rule: Rule, words: str) -> None:
    request = make_request()
    spec = spec_for(request)
    assert check_rules(spec, request) == []
    broken = copy.deepcopy(spec)
    mutate(broken)
    violations = check_rules(broken, request)
    matching = [violation for violation in violations if violation.rule == rule]
    assert matching, f"{label}: expected a {rule.value} violation, got {violations}"
    assert any(words in violation.message for violation in matching), matching


def test_scalars_only_refuses_arrays_and_objects() -> None:
    request = make_request(parameter_types="scalars_only")
    spec = spec_for(make_request(parameter_types="rich_mix"))
    violations = check_rules(spec, request)
    assert any(v.rule == Rule.PARAM_TYPES and "not allowed here" in v.message for v in violations)


def test_object_without_properties_and_array_without_items() -> None:
    request = make_request(parameter_types="rich_mix")
    spec = spec_for(request)
    for schema in spec["parameters"]["properties"].values():
        if schema["type"] == "object":
            schema.pop("properties")
        if schema["type"] == "array":
            schema.pop("items")
    messages = [v.message for v in check_rules(spec, request) if v.rule == Rule.PARAM_TYPES]
    assert any("object without 'properties'" in message for message in messages)
    assert any("array without a typed 'items'" in message for message in messages)


def test_nested_names_follow_the_convention_too() -> None:
    request = make_request(parameter_types="with_nested_object", naming_convention="kebab-case")
    spec = spec_for(request)
    for schema in spec["parameters"]["properties"].values():
        if schema["type"] == "object":
            schema["properties"]["max_price"] = schema["properties"].pop(next(iter(schema["properties"])))
    violations = check_rules(spec, request)
    assert any(v.rule == Rule.NAMING and ".max_price" in v.message for v in violations)


def test_malformed_spec_gives_violations_not_exceptions() -> None:
    request = make_request()
    violations = check_rules({"name": 3, "parameters": "nope", "returns": []}, request)
    assert {v.rule for v in violations} >= {Rule.JSON_SCHEMA, Rule.NAMING, Rule.PARAM_COUNT, Rule.RETURN_FORMAT}


def test_duplicates_by_name_across_conventions_and_by_schema() -> None:
    request = make_request()
    spec = spec_for(request)
    known = KnownTools()
    assert known.claim(spec, "first") is None
    camel = copy.deepcopy(spec)
    camel["name"] = "".join(word if i == 0 else word.capitalize() for i, word in enumerate(spec["name"].split("_")))
    clash = known.check(camel)
    assert clash is not None and clash.rule == Rule.DUPLICATE and "already taken by first" in clash.message
    renamed = copy.deepcopy(spec)
    renamed["name"] = "totally_different_name"
    for schema in renamed["parameters"]["properties"].values():
        schema["description"] = "Reworded."
    same_schema = known.check(renamed)
    assert same_schema is not None and "same as those of first" in same_schema.message
    different = copy.deepcopy(renamed)
    different["parameters"]["properties"][_first_param(different)]["type"] = "integer"
    different["parameters"]["properties"][_first_param(different)].pop("enum", None)
    different["parameters"]["properties"][_first_param(different)].pop("items", None)
    different["parameters"]["properties"][_first_param(different)].pop("properties", None)
    assert known.check(different) is None


def test_tiny_schemas_are_not_schema_duplicates() -> None:
    known = KnownTools(schema_min_params=2)
    one = {"name": "search_hotels", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}
    known.add(one, "hotels")
    other = dict(one, name="search_flights")
    assert known.check(other) is None
    assert canonical_schema(one["parameters"]) == canonical_schema(other["parameters"])


@pytest.mark.parametrize("convention", ["snake_case", "camelCase", "kebab-case"])
def test_the_prompt_example_obeys_the_rules_it_teaches(convention: str) -> None:
    from looptool.agents.api_generator import example_draft

    request = make_request(
        naming_convention=convention, parameter_types="with_enum", required_mix="required_and_optional"
    )
    spec = draft_to_spec(ApiDraft.model_validate(example_draft(convention)))
    assert check_rules(spec, request) == []
