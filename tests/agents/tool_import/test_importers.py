"""Importers: OpenAPI 3 with $refs, a malformed document, BFCL docs, OpenAI JSONL, duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from looptool.agents.tool_import import (
    LibraryTool,
    bfcl_to_json_schema,
    import_file,
    import_paths,
    read_library,
    sanitize_name,
    write_library,
)
from looptool.agents.tool_import.openapi import import_openapi_document

DATA = Path(__file__).parent / "data"


def by_name(tools: list[LibraryTool]) -> dict[str, LibraryTool]:
    return {tool.spec.name: tool for tool in tools}


def test_openapi_operations_with_refs() -> None:
    report = import_paths([DATA / "petstore.yaml"])
    tools = by_name(report.tools)
    assert sorted(tools) == ["create_pet", "deletePet", "getCategory", "get_pets_petId", "listPets"]
    listing = tools["listPets"].spec
    assert listing.description == "List pets List the pets in the store, optionally filtered."
    # a $ref'd parameter, with its description, and an inline query parameter
    assert listing.parameters["properties"]["limit"] == {
        "description": "How many pets to return.", "type": "integer",
        "minimum": 1, "maximum": 100, "default": 20}
    assert listing.parameters["properties"]["species"]["enum"] == ["dog", "cat", "bird"]
    assert "required" not in listing.parameters
    assert listing.returns is not None and listing.returns["type"] == "array"  # 200 as a YAML int
    # request body via $ref -> $ref schema -> nested $refs, flattened into the parameters
    create = tools["create_pet"]
    params = create.spec.parameters
    assert params["required"] == ["name", "species"]
    assert params["properties"]["owner"]["properties"]["address"]["properties"]["city"] == {"type": "string"}
    assert params["properties"]["tag"] == {"type": ["string", "null"], "examples": ["friendly"]}
    assert create.provenance[0].parameter_locations["name"] == "body"
    assert create.provenance[0].pointer == "/paths/~1pets/post"
    assert "$ref" not in json.dumps(params) and "$ref" not in json.dumps(create.spec.returns)
    # path-level parameters are inherited; path parameters are required; header parameters kept
    assert tools["get_pets_petId"].spec.parameters["required"] == ["petId"]
    delete = tools["deletePet"]
    assert delete.spec.parameters["required"] == ["petId", "X-Request-Id"]
    assert delete.provenance[0].parameter_locations == {"petId": "path", "X-Request-Id": "header"}
    for tool in report.tools:
        jsonschema.Draft202012Validator.check_schema(tool.spec.parameters)


def test_reference_cycle_is_detected_and_cut() -> None:
    report = import_paths([DATA / "petstore.yaml"])
    category = by_name(report.tools)["getCategory"].spec
    assert category.returns is not None
    children = category.returns["properties"]["children"]["items"]
    assert children == {"type": "object", "description": "recursive reference to Category"}
    warnings = [issue for issue in report.issues if issue.severity == "warning"]
    assert len(warnings) == 1 and "recursive $ref '#/components/schemas/Category'" in warnings[0].reason
    assert report.errors == []


def test_malformed_openapi_reports_each_operation_and_imports_the_rest() -> None:
    tools, issues = import_file(DATA / "broken_openapi.json")
    assert [spec.name for spec, _ in tools] == ["okOperation"]
    reasons = {issue.pointer: issue.reason for issue in issues}
    assert reasons == {
        "/paths/~1missing-ref/get":
            "missingRef (GET /missing-ref): $ref '#/components/parameters/Nope' does not resolve (no 'Nope')",
        "/paths/~1external/post":
            "externalRef (POST /external): external $ref 'other.yaml#/Thing' is not supported (only '#/...')",
        "/paths/~1bad-location/get": "badLocation (GET /bad-location): parameter 'x': unknown location 'body'",
        "/paths/~1bad-schema/get": reasons["/paths/~1bad-schema/get"],
        "/paths/~1not-an-object/get": "an operation must be an object",
    }
    assert "properties/n/type" in reasons["/paths/~1bad-schema/get"]
    assert all(issue.severity == "error" and issue.source.endswith("broken_openapi.json") for issue in issues)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"swagger": "2.0", "paths": {}}, "Swagger 2.0 is not supported"),
        ({"openapi": "2.5", "paths": {"/a": {}}}, "not an OpenAPI 3 document"),
        ({"openapi": "3.0.0", "paths": {}}, "no paths"),
    ],
)
def test_whole_document_problems(document: dict[str, object], reason: str) -> None:
    tools, issues = import_openapi_document(document, "doc.json")
    assert tools == [] and len(issues) == 1 and reason in issues[0].reason


def test_bfcl_docs_map_types() -> None:
    report = import_paths([DATA / "bfcl_functions.json"])  # JSON Lines in a .json file
    tools = by_name(report.tools)
    assert sorted(tools) == ["GeometryPresentation.createPresentation", "calculate_triangle_area",
                             "geometry.circle_point", "math.factorial"]
    circle = tools["geometry.circle_point"].spec.parameters
    assert circle["type"] == "object"
    assert circle["properties"]["center"] == {"type": "array", "items": {"type": "number"},
                                              "description": "Center (x, y)."}
    assert circle["properties"]["radius"]["type"] == "number"
    assert circle["properties"]["payload"] == {"description": "Anything."}  # "any": no type
    assert circle["properties"]["options"]["type"] == "object"
    java = tools["GeometryPresentation.createPresentation"].spec.parameters["properties"]
    assert java["controller"]["type"] == "string"
    assert java["ids"] == {"type": "array", "items": {"type": "integer"}, "description": "Ids."}
    assert java["options"]["type"] == "object"
    assert tools["math.factorial"].provenance[0].format == "bfcl"
    assert tools["math.factorial"].provenance[0].pointer == "line 2/function/0"
    [issue] = report.issues
    assert issue.pointer == "line 5/function/0 (bad.types)"
    assert issue.reason == "parameters.properties.x.type: unknown type 'quaternion'"


def test_bfcl_schema_mapping_is_recursive() -> None:
    schema, dialect = bfcl_to_json_schema({"type": "dict", "properties": {
        "rows": {"type": "array", "items": {"type": "dict", "properties": {"v": {"type": "float"}}}}}})
    assert dialect
    assert schema["properties"]["rows"]["items"]["properties"]["v"] == {"type": "number"}
    plain, dialect = bfcl_to_json_schema({"type": "object", "properties": {"a": {"type": "string"}}})
    assert not dialect and plain["type"] == "object"


def test_openai_jsonl_duplicates_merged_clashes_renamed_bad_lines_reported() -> None:
    report = import_paths([DATA / "openai_tools.jsonl"])
    tools = by_name(report.tools)
    assert sorted(tools) == ["get_weather", "get_weather__ff8928"]
    merged = tools["get_weather"]
    assert [item.pointer for item in merged.provenance] == ["line 1", "line 2"]
    assert merged.spec.description == "Get the weather for a city."
    renamed = tools["get_weather__ff8928"]
    assert renamed.provenance[0].original_name == "get_weather"
    assert report.merged_duplicates == 1 and report.renamed == 1
    errors = {issue.pointer: issue.reason for issue in report.errors}
    assert set(errors) == {"line 4 (9lives)", "line 5 (needs_missing)", "line 6", "line 7"}
    assert "must start with a letter" in errors["line 4 (9lives)"]
    assert "required parameter 'b' is not in properties" in errors["line 5 (needs_missing)"]
    assert errors["line 6"].startswith("not valid JSON")
    assert errors["line 7"] == "no 'name' (not a function spec)"


def test_rename_is_deterministic_across_runs_and_merge_into_library(tmp_path: Path) -> None:
    first = import_paths([DATA / "openai_tools.jsonl"])
    second = import_paths([DATA / "openai_tools.jsonl"])
    assert [tool.spec.name for tool in first.tools] == [tool.spec.name for tool in second.tools]
    library = tmp_path / "tools.jsonl"
    write_library(library, first.tools)
    assert read_library(library) == first.tools
    merged = import_paths([DATA / "openai_tools.jsonl", DATA / "petstore.yaml"],
                          existing=read_library(library))
    names = [tool.spec.name for tool in merged.tools]
    assert names[:2] == ["get_weather", "get_weather__ff8928"] and len(names) == 7
    assert len(by_name(merged.tools)["get_weather"].provenance) == 2  # no duplicated provenance


def test_folder_and_missing_paths(tmp_path: Path) -> None:
    report = import_paths([DATA])
    assert len(report.tools) == 12
    with pytest.raises(FileNotFoundError, match="no such file or folder: .*nope"):
        import_paths([tmp_path / "nope"])


@pytest.mark.parametrize(
    ("raw", "name"),
    [("get_/users/{id}", "get_users_id"), ("create-pet", "create_pet"), ("2fa.verify", "op_2fa_verify"),
     ("///", "operation")],
)
def test_sanitize_name(raw: str, name: str) -> None:
    assert sanitize_name(raw) == name
