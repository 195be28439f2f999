"""Random tool calls against a backend: tool names and argument values within and outside
the tool's schema, checked for escaping exceptions, slow calls, non-JSON results and
state changed by a refused call."""

from __future__ import annotations

import json
import random
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python

from looptool.agents.backends.base import ToolBackend, ToolError
from looptool.agents.backends.executor import convert_arguments
from looptool.agents.backends.specs import backend_tools
from looptool.schema import ToolCall
from tests.security.fuzz import random_text, random_value

STRINGS = [
    "", " ", ".", "..", "/", "../..", "docs", "docs/a.txt", "a.txt", "/docs/../a", "C:\\x", "*",
    "a" * 1024, "d/" * 512, "x" * 5000, "\x00", "\ud800", "東京", "2026-03-14", "2026-03-14T09:30",
    "2026-03-14T09:30+05:00", "2026-03-14garbage", "9999-12-31T23:59", "0001-01-01", "09:00",
    "25:99", "km", "mi", "C", "F", "K", "GiB", "1+1", "2 ** 1001", "round(5, -10**300)",
    "9**9**9", "factorial(170)", "evt-1", "todo-1", "1", "Eve", "Frank", "Grace", "Alice", "Bob",
    "high", "open", "all", "true",
]
INTEGERS = [0, 1, -1, 2, 5, 60, 1440, 1441, 10**20, -(10**20), 2**63, 10**300]
NUMBERS = [0.0, -0.0, 1.5, -273.16, 1e308, -1e308, 1e-308, 10**20, float("inf"), float("nan")]


def schema_value(rng: random.Random, schema: dict[str, Any], strings: list[str] = STRINGS) -> Any:
    """A value for ``schema``: usually of the right type (edge values favoured), sometimes not."""
    if rng.random() < 0.1:
        return random_value(rng)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return schema_value(rng, rng.choice(options), strings)
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = rng.choice(kind)
    if kind == "string":
        return rng.choice(strings) if rng.random() < 0.8 else random_text(rng, 6)
    if kind == "integer":
        return rng.choice(INTEGERS) if rng.random() < 0.7 else rng.randint(-100, 100)
    if kind == "number":
        return rng.choice(NUMBERS + INTEGERS)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "array":
        return [schema_value(rng, schema.get("items", {}), strings) for _ in range(rng.randint(0, 3))]
    return {random_text(rng, 2): random_value(rng) for _ in range(rng.randint(0, 2))}


def random_call(rng: random.Random, tools: dict[str, Any], strings: list[str] = STRINGS) -> ToolCall:
    """A call of a known tool (mostly) or of a random name, with fitting or random arguments."""
    if rng.random() < 0.05 or not tools:
        return ToolCall(name=random_text(rng, 3) or "x", arguments={"x": random_value(rng)})
    name = rng.choice(list(tools))
    properties = tools[name].spec.parameters.get("properties", {})
    arguments = {
        key: schema_value(rng, schema, strings) for key, schema in properties.items() if rng.random() < 0.85
    }
    if rng.random() < 0.1:
        arguments[random_text(rng, 2) or "extra"] = random_value(rng)
    return ToolCall(name=name, arguments=arguments)


def strings_in(data: Any, limit: int = 300) -> list[str]:
    """Up to ``limit`` short strings (keys and values) found in ``data``, plus :data:`STRINGS`:
    names a scenario knows, so calls get past "unknown user" often enough to reach deeper code."""
    found: list[str] = []
    stack = [data]
    while stack and len(found) < limit:
        item = stack.pop()
        if isinstance(item, dict):
            found.extend(str(key) for key in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str | int) and len(str(item)) < 80:
            found.append(str(item))
    return found + STRINGS


def strict_json(value: Any) -> str:
    """The result as strict JSON (no NaN/Infinity); raises if it is not."""
    return json.dumps(to_jsonable_python(value), allow_nan=False, ensure_ascii=False)


@dataclass
class BackendFuzzReport:
    calls: int = 0
    refused: int = 0
    slowest_s: float = 0.0
    peak_bytes: int = 0


def fuzz_backend(
    backend: ToolBackend,
    *,
    seed: int,
    budget_s: float,
    per_call_s: float,
    max_calls: int = 5_000,
    unchanged_on_error: bool = True,
    check: Callable[[ToolBackend], None] | None = None,
    strings: list[str] = STRINGS,
) -> BackendFuzzReport:
    """Random calls on ``backend`` as the model's tool calls reach it (arguments validated
    against the derived schema, then the method called): only :class:`ToolError` may escape,
    every result is strict JSON, no call takes ``per_call_s`` or more, and a refused call
    leaves :meth:`~ToolBackend.snapshot` as it was (when ``unchanged_on_error``)."""
    rng = random.Random(seed)
    tools = backend_tools(type(backend))
    report = BackendFuzzReport()
    deadline = time.perf_counter() + budget_s
    tracemalloc.start()
    try:
        while report.calls < max_calls and time.perf_counter() < deadline:
            call = random_call(rng, tools, strings)
            report.calls += 1
            tool = tools.get(call.name)
            if tool is None:
                result = backend.execute(call)
                assert not result.ok and "unknown tool" in (result.error or ""), result
                continue
            try:
                kwargs = convert_arguments(tool, call.arguments)
            except ToolError:
                report.refused += 1
                continue
            before = backend.snapshot() if unchanged_on_error else None
            started = time.perf_counter()
            try:
                strict_json(getattr(backend, call.name)(**kwargs))
            except ToolError:
                report.refused += 1
                if before is not None:
                    assert backend.snapshot() == before, f"refused {str(call)[:300]} changed the state"
            except Exception as error:  # anything else is a bug the model could trigger
                raise AssertionError(f"{str(call)[:300]} raised {type(error).__name__}: {error}") from error
            took = time.perf_counter() - started
            assert took < per_call_s, f"{call.name} took {took:.2f}s: {str(call)[:300]}"
            report.slowest_s = max(report.slowest_s, took)
            if check is not None:
                check(backend)
        report.peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return report
