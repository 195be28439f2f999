"""OpenAPI 3 documents (JSON or YAML) -> one tool per operation.

* Names: the ``operationId``, else ``<method>_<path>``; sanitised to letters, digits and ``_``.
* Parameters: path, query, header and cookie parameters (path-level ones inherited, operation
  ones override by name + location) become properties; a JSON request body whose schema is an
  object is flattened into the same properties (a clash or a non-object body becomes one
  ``body`` property). Where each property goes is kept in the provenance.
* ``$ref``s (``#/components/...``) are resolved recursively; a reference cycle is cut with a
  plain ``{"type": "object"}`` and a warning; a missing or external reference skips the
  operation with the reason.
* OpenAPI 3.0 schema dialect: ``nullable`` -> ``"null"`` in the type, ``example`` ->
  ``examples``, ``discriminator``/``xml``/``externalDocs``/``x-*`` dropped.
* The first 2xx (or ``default``) JSON response schema becomes ``returns``.
"""

from __future__ import annotations

import re
from typing import Any

from looptool.agents.tool_import.library import ImportIssue, Provenance
from looptool.schema import SpecError, ToolSpec, load_tool_spec

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_DROP = {"discriminator", "xml", "externalDocs", "example"}
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMA = ("items", "additionalProperties", "not", "contains", "propertyNames",
              "unevaluatedProperties", "unevaluatedItems", "if", "then", "else")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
MAX_DESCRIPTION_CHARS = 1024


class OperationError(ValueError):
    """One operation cannot be imported; the message says why."""


def escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def sanitize_name(text: str) -> str:
    """A tool name from an operationId or method + path: ``[A-Za-z0-9_]``, at most 64 chars."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")
    name = re.sub(r"_+", "_", name)
    if not name:
        name = "operation"
    if not (name[0].isalpha() or name[0] == "_"):
        name = f"op_{name}"
    return name[:64]


class RefResolver:
    """Resolves local ``$ref``s of one document, detecting cycles."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.warnings: list[str] = []

    def lookup(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise OperationError(f"external $ref {ref!r} is not supported (only '#/...')")
        node: Any = self.document
        for token in [part for part in ref[1:].split("/") if part]:
            key = _unescape(token)
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                raise OperationError(f"$ref {ref!r} does not resolve (no {key!r})")
        return node

    def deref(self, value: Any, stack: tuple[str, ...] = ()) -> tuple[Any, tuple[str, ...]]:
        """Follow ``$ref`` chains of a non-schema object (parameter, request body, response)."""
        while isinstance(value, dict) and "$ref" in value:
            ref = value["$ref"]
            if ref in stack:
                raise OperationError(f"$ref cycle: {' -> '.join([*stack, ref])}")
            stack = (*stack, ref)
            value = self.lookup(ref)
        return value, stack

    def schema(self, schema: Any, stack: tuple[str, ...] = ()) -> Any:
        """A schema with every ``$ref`` inlined and the 3.0 dialect mapped to JSON Schema."""
        if isinstance(schema, list):
            return [self.schema(item, stack) for item in schema]
        if not isinstance(schema, dict):
            return schema
        if "$ref" in schema:
            ref = schema["$ref"]
            if not isinstance(ref, str):
                raise OperationError(f"$ref must be a string, got {ref!r}")
            if ref in stack:
                self.warnings.append(
                    f"recursive $ref {ref!r} (via {' -> '.join(stack)}) cut to a plain object"
                )
                return {"type": "object", "description": f"recursive reference to {ref.rsplit('/', 1)[-1]}"}
            target = self.schema(self.lookup(ref), (*stack, ref))
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            return {**target, **self.schema(siblings, stack)} if siblings else target
        result: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _DROP or key.startswith("x-"):
                if key == "example":
                    result.setdefault("examples", [value])
                continue
            if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
                result[key] = {name: self.schema(sub, stack) for name, sub in value.items()}
            elif key in _SUBSCHEMA and isinstance(value, dict):
                result[key] = self.schema(value, stack)
            elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
                result[key] = [self.schema(sub, stack) for sub in value]
            elif key == "nullable":
                continue
            else:
                result[key] = value
        if schema.get("nullable") is True:
            kind = result.get("type")
            if isinstance(kind, str):
                result["type"] = [kind, "null"]
            elif isinstance(kind, list) and "null" not in kind:
                result["type"] = [*kind, "null"]
        return result


def _media_schema(content: Any) -> Any:
    """The schema of the preferred media type: application/json, any JSON type, else the first."""
    if not isinstance(content, dict):
        return None
    with_schema = [media for media, entry in content.items()
                   if isinstance(entry, dict) and "schema" in entry]
    if not with_schema:
        return None
    json_types = [media for media in with_schema if "json" in str(media)]
    chosen = "application/json" if "application/json" in with_schema else (json_types or with_schema)[0]
    return content[chosen]["schema"]


def _description(operation: dict[str, Any], method: str, path: str) -> str:
    parts = [str(operation[key]).strip() for key in ("summary", "description")
             if isinstance(operation.get(key), str) and operation[key].strip()]
    if len(parts) == 2 and parts[1].startswith(parts[0]):
        parts = parts[1:]
    text = " ".join(parts) or f"{method.upper()} {path}"
    return text[:MAX_DESCRIPTION_CHARS]


def _operation_tool(
    resolver: RefResolver,
    path: str,
    method: str,
    operation: dict[str, Any],
    inherited: list[Any],
) -> tuple[ToolSpec, dict[str, str]]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    locations: dict[str, str] = {}
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for index, raw in enumerate([*inherited, *(operation.get("parameters") or [])]):
        param, _ = resolver.deref(raw)
        if not isinstance(param, dict) or "name" not in param or "in" not in param:
            raise OperationError(f"parameter #{index} needs 'name' and 'in'")
        if param["in"] not in ("path", "query", "header", "cookie"):
            raise OperationError(f"parameter {param['name']!r}: unknown location {param['in']!r}")
        merged[(str(param["name"]), str(param["in"]))] = param
    for (name, location), param in merged.items():
        schema_source = param.get("schema")
        if schema_source is None:
            schema_source = _media_schema(param.get("content"))
        if schema_source is None:
            schema_source = {"type": "string"}
        schema = resolver.schema(schema_source)
        if not isinstance(schema, dict):
            raise OperationError(f"parameter {name!r}: schema must be an object")
        if isinstance(param.get("description"), str) and "description" not in schema:
            schema = {"description": param["description"], **schema}
        key = name if name not in properties else f"{location}_{name}"
        properties[key] = schema
        locations[key] = location
        if param.get("required") or location == "path":
            required.append(key)
    body_ref = operation.get("requestBody")
    if body_ref is not None:
        body, _ = resolver.deref(body_ref)
        if not isinstance(body, dict):
            raise OperationError("requestBody must be an object")
        raw_schema = _media_schema(body.get("content"))
        if raw_schema is None:
            raise OperationError("requestBody has no media type with a schema")
        schema = resolver.schema(raw_schema)
        body_required = bool(body.get("required"))
        body_props = schema.get("properties") if isinstance(schema, dict) else None
        flat = (
            isinstance(body_props, dict) and body_props
            and schema.get("type", "object") == "object"
            and not set(body_props) & set(properties)
        )
        if flat:
            assert isinstance(body_props, dict)
            for name, sub in body_props.items():
                properties[name] = sub
                locations[name] = "body"
            if body_required:
                required.extend(name for name in schema.get("required", []) if name in body_props)
        else:
            key = "body" if "body" not in properties else "request_body"
            if isinstance(body.get("description"), str) and isinstance(schema, dict):
                schema = {"description": body["description"], **schema}
            properties[key] = schema
            locations[key] = "body"
            if body_required:
                required.append(key)
    returns = None
    responses = operation.get("responses") or {}
    if isinstance(responses, dict):
        by_code = {str(code).upper(): value for code, value in responses.items()}  # YAML: 200 is an int
        codes = sorted(code for code in by_code if code.startswith("2"))
        for code in [*codes, "DEFAULT"]:
            response, _ = resolver.deref(by_code.get(code))
            if isinstance(response, dict):
                raw_schema = _media_schema(response.get("content"))
                if raw_schema is not None:
                    returns = resolver.schema(raw_schema)
                    break
    name_source = operation.get("operationId") or f"{method}_{path}"
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = list(dict.fromkeys(required))
    data = {
        "name": sanitize_name(str(name_source)),
        "description": _description(operation, method, path),
        "parameters": parameters,
        "returns": returns if isinstance(returns, dict) else None,
    }
    try:
        spec = load_tool_spec(data)
    except SpecError as error:
        raise OperationError(str(error)) from None
    return spec, locations


def _operation_label(method: str, path: str, operation: dict[str, Any]) -> str:
    """``createInvoice (POST /invoices)``: how a report names an operation."""
    where = f"{method.upper()} {path}"
    operation_id = operation.get("operationId")
    return f"{operation_id} ({where})" if isinstance(operation_id, str) and operation_id else where


def import_openapi_document(
    document: Any, source: str
) -> tuple[list[tuple[ToolSpec, Provenance]], list[ImportIssue]]:
    """Every operation of an OpenAPI 3 document as a tool; bad operations become issues."""
    issues: list[ImportIssue] = []
    tools: list[tuple[ToolSpec, Provenance]] = []
    if not isinstance(document, dict):
        return [], [ImportIssue(source=source, pointer="/", reason="an OpenAPI document must be an object")]
    if "swagger" in document:
        return [], [ImportIssue(source=source, pointer="/swagger",
                                reason="Swagger 2.0 is not supported; convert it to OpenAPI 3")]
    version = str(document.get("openapi", ""))
    if not version.startswith("3"):
        return [], [ImportIssue(source=source, pointer="/openapi",
                                reason=f"not an OpenAPI 3 document (openapi: {version or 'missing'})")]
    paths = document.get("paths")
    if not isinstance(paths, dict) or not paths:
        return [], [ImportIssue(source=source, pointer="/paths", reason="the document has no paths")]
    for path, item in paths.items():
        item_pointer = f"/paths/{escape_pointer(str(path))}"
        resolver = RefResolver(document)
        try:
            item, _ = resolver.deref(item)
        except OperationError as error:
            issues.append(ImportIssue(source=source, pointer=item_pointer, reason=str(error)))
            continue
        if not isinstance(item, dict):
            issues.append(ImportIssue(source=source, pointer=item_pointer,
                                      reason="a path item must be an object"))
            continue
        inherited = item.get("parameters") or []
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            pointer = f"{item_pointer}/{method}"
            resolver = RefResolver(document)
            if not isinstance(operation, dict):
                issues.append(ImportIssue(source=source, pointer=pointer,
                                          reason="an operation must be an object"))
                continue
            label = _operation_label(method, str(path), operation)
            try:
                if not isinstance(inherited, list):
                    raise OperationError("path-level 'parameters' must be a list")
                spec, locations = _operation_tool(resolver, str(path), method, operation,
                                                  inherited)
            except OperationError as error:
                issues.append(ImportIssue(source=source, pointer=pointer,
                                          reason=f"{label}: {error}"))
                continue
            for warning in dict.fromkeys(resolver.warnings):
                issues.append(ImportIssue(source=source, pointer=pointer, severity="warning",
                                          reason=f"{label}: {warning}"))
            tools.append((spec, Provenance(source=source, format="openapi", pointer=pointer,
                                           parameter_locations=locations)))
    return tools, issues
