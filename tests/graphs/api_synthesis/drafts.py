"""Valid API drafts for any synthesis request (tests only; the scripted chat model itself is
``tests.fake_models``)."""

from __future__ import annotations

import json
from typing import Any

from looptool.agents.api_generator import ApiRequest, apply_convention, split_words


def _field(kind: str, description: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "description": description, "enum": None}
    body.update(extra)
    return body


def _param(kind: str, description: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": kind,
        "description": description,
        "enum": None,
        "items": None,
        "properties": None,
    }
    body.update(extra)
    return body


ORDINALS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]


def valid_draft(request: ApiRequest) -> dict[str, Any]:
    """An ApiDraft (as a dict) that satisfies every constraint of ``request``."""
    convention = request.naming.convention
    words = split_words(request.intent) or ["do"]
    words = [word for word in words if word.isalnum()] or ["do"]
    if len(words) < request.min_function_name_words:
        words = ["run", *words]

    def name(*parts: str) -> str:
        return apply_convention(list(parts), convention)

    wanted = request.parameters
    count = wanted.max_count
    required_count = next(
        r
        for r in range(count + 1)
        if r >= wanted.min_required
        and (wanted.max_required is None or r <= wanted.max_required)
        and count - r >= wanted.min_optional
        and (wanted.max_optional is None or count - r <= wanted.max_optional)
    )
    stem = words[-1]
    params: dict[str, Any] = {}
    order = {"array": 0, "object": 1, "enum": 2}
    features = sorted(wanted.must_include, key=order.__getitem__)
    nested_enum = len(features) > count and "enum" in features  # the enum goes inside the object
    if nested_enum:
        features.remove("enum")
    for position in range(count):
        key = name(stem, ORDINALS[position])
        feature = features.pop(0) if features else None
        if feature == "enum":
            params[key] = _param("string", "A choice of mode.", enum=["fast", "slow"])
        elif feature == "array":
            params[key] = _param("array", "A list of tags.", items={"type": "string", "description": "A tag.", "enum": None, "properties": None})
        elif feature == "object":
            params[key] = _param(
                "object",
                "Nested filters.",
                properties={
                    name("max", "price"): _field("number", "Highest price."),
                    **({name("sort", "order"): _field("string", "Sort order.", enum=["asc", "desc"])} if nested_enum else {}),
                },
            )
        else:
            params[key] = _param("string", f"Value {position} for {request.intent}.")
    returns: dict[str, Any] = {"type": request.returns.types[0], "description": "The result.", "properties": None, "items": None}
    if returns["type"] == "object":
        fields = list(request.returns.required_properties) or ["status", "detail", "extra"][: max(2, request.returns.min_properties)]
        returns["properties"] = {field: _field("string", f"The {field}.") for field in fields}
    if returns["type"] == "array":
        returns["items"] = {
            "type": request.returns.items_type or "string",
            "description": "One entry.",
            "enum": None,
            "properties": {"label": _field("string", "A label.")} if request.returns.items_type == "object" else None,
        }
    return {
        "name": name(*words),
        "description": f"{request.intent_description or request.intent} (synthesized).",
        "parameters": params,
        "required": list(params)[:required_count],
        "returns": returns,
    }


def valid_reply(request: ApiRequest) -> str:
    return json.dumps(valid_draft(request))
