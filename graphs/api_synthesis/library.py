"""Duplicate detection against the tools already known (library + accepted so far).

Two specs are duplicates when their *normalised names* are equal (``getWeather``,
``get_weather`` and ``get-weather`` are one name), or when their *normalised parameter
schemas* are equal: property names normalised the same way, types, enums, items, nested
properties and the required set, with descriptions, titles and defaults ignored. Schemas
with fewer than ``schema_min_params`` top-level parameters are too generic to call
duplicates by schema alone (``{"query": string}`` fits many different tools).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from looptool.agents.api_generator import split_words
from looptool.graphs.api_synthesis.rules import Rule, Violation
from looptool.schema import ToolSpec


def normalise_name(name: str) -> str:
    return "_".join(split_words(name))


def canonical_schema(schema: Any) -> Any:
    """A schema reduced to what makes two tools interchangeable (see module docstring)."""
    if not isinstance(schema, dict):
        return schema
    canonical: dict[str, Any] = {}
    if "type" in schema:
        canonical["type"] = schema["type"]
    if isinstance(schema.get("enum"), list):
        canonical["enum"] = sorted(json.dumps(value, sort_keys=True) for value in schema["enum"])
    if isinstance(schema.get("items"), dict):
        canonical["items"] = canonical_schema(schema["items"])
    properties = schema.get("properties")
    if isinstance(properties, dict):
        canonical["properties"] = {
            normalise_name(str(name)): canonical_schema(child) for name, child in properties.items()
        }
        required = schema.get("required")
        if isinstance(required, list):
            canonical["required"] = sorted(normalise_name(str(name)) for name in required)
    return canonical


def schema_fingerprint(parameters: Any) -> str:
    return json.dumps(canonical_schema(parameters), sort_keys=True)


class KnownTools:
    """Names and parameter schemas already taken; safe for concurrent use."""

    def __init__(self, *, schema_min_params: int = 2) -> None:
        self.schema_min_params = schema_min_params
        self._names: dict[str, str] = {}
        self._schemas: dict[str, str] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._names)

    def _fingerprint(self, spec: dict[str, Any]) -> str | None:
        parameters = spec.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, dict) else None
        if not isinstance(properties, dict) or len(properties) < self.schema_min_params:
            return None
        return schema_fingerprint(parameters)

    def _add(self, spec: dict[str, Any], origin: str) -> None:
        self._names.setdefault(normalise_name(str(spec.get("name", ""))), origin)
        fingerprint = self._fingerprint(spec)
        if fingerprint is not None:
            self._schemas.setdefault(fingerprint, origin)

    def add(self, tool: ToolSpec | dict[str, Any], origin: str) -> None:
        """Register a known tool; ``origin`` says where it came from (shown in reasons)."""
        spec = tool.model_dump(mode="json") if isinstance(tool, ToolSpec) else tool
        with self._lock:
            self._add(spec, origin)

    def add_all(self, tools: list[ToolSpec], origin: str) -> None:
        for tool in tools:
            self.add(tool, f"{origin} {tool.name!r}")

    def _check(self, spec: dict[str, Any]) -> Violation | None:
        name = str(spec.get("name", ""))
        clash = self._names.get(normalise_name(name))
        if clash is not None:
            return Violation(
                rule=Rule.DUPLICATE,
                message=f"the name {name!r} is already taken by {clash}; choose a more specific name",
            )
        fingerprint = self._fingerprint(spec)
        if fingerprint is not None and fingerprint in self._schemas:
            return Violation(
                rule=Rule.DUPLICATE,
                message=f"the parameters are the same as those of {self._schemas[fingerprint]}; "
                "design parameters specific to this intent",
            )
        return None

    def check(self, spec: dict[str, Any]) -> Violation | None:
        """The duplicate violation of ``spec``, or None."""
        with self._lock:
            return self._check(spec)

    def claim(self, spec: dict[str, Any], origin: str) -> Violation | None:
        """Atomically: a duplicate violation, or register ``spec`` and return None."""
        with self._lock:
            violation = self._check(spec)
            if violation is None:
                self._add(spec, origin)
            return violation
