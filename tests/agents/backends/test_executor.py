"""The executor turns every failure into a tool message the model sees; it never raises."""

from __future__ import annotations

import asyncio
import json
from typing import Literal

import pytest
from pydantic import BaseModel

from looptool.agents.backends import ToolBackend, ToolError, execute_tool_call
from looptool.schema import Role, ToolCall


class Point(BaseModel):
    x: float
    y: float


class Geometry(ToolBackend):
    """Geometry helpers."""

    def __init__(self) -> None:
        self.calls = 0

    def distance(self, a: Point, b: Point, unit: Literal["m", "km"] = "m") -> dict[str, float]:
        """Distance between two points.

        Args:
            a: First point.
            b: Second point.
            unit: Unit of the answer.
        """
        self.calls += 1
        assert isinstance(a, Point) and isinstance(b, Point)  # converted from JSON
        value = ((a.x - b.x) ** 2 + (a.y - b.y) ** 2) ** 0.5
        return {"distance": value / 1000 if unit == "km" else value}

    def label(self, name: str, suffix: str | None = None) -> str:
        """Make a label.

        Args:
            name: The name.
            suffix: Optional suffix.
        """
        if not name:
            raise ToolError("name is empty")
        return name + (suffix or "")

    def explode(self) -> None:
        """A tool with a bug."""
        raise KeyError("oops")

    def nothing(self) -> None:
        """Returns nothing."""


def run(tool: str, **arguments: object) -> tuple[bool, dict[str, object] | str | float]:
    result = execute_tool_call(Geometry(), ToolCall(name=tool, arguments=arguments, id="c1"))
    return result.ok, json.loads(result.content)


def test_success_converts_nested_arguments_and_returns_json() -> None:
    ok, content = run("distance", a={"x": 0, "y": 0}, b={"x": 3, "y": 4})
    assert ok and content == {"distance": 5.0}
    ok, content = run("distance", a={"x": 0, "y": 0}, b={"x": 3000, "y": 4000}, unit="km")
    assert ok and content == {"distance": 5.0}


def test_explicit_null_for_optional_parameter_is_accepted() -> None:
    assert run("label", name="a", suffix=None) == (True, "a")
    assert run("label", name="a", suffix="-b") == (True, "a-b")
    assert run("nothing") == (True, {"status": "ok"})


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("distnce", {}, "unknown tool 'distnce'; did you mean 'distance'?"),
        ("distance", {"a": {"x": 0, "y": 0}}, "'b' is a required property"),
        ("distance", {"a": {"x": 0}, "b": {"x": 1, "y": 1}}, "a: 'y' is a required property"),
        ("distance", {"a": {"x": "0", "y": 0}, "b": {"x": 1, "y": 1}}, "a/x: '0' is not of type 'number'"),
        ("distance", {"a": {"x": 0, "y": 0}, "b": {"x": 1, "y": 1}, "unit": "mi"},
         "unit: 'mi' is not one of ['m', 'km']"),
        ("label", {"name": "x", "colour": "red"}, "('colour' was unexpected)"),
        ("label", {"name": ""}, "name is empty"),
        ("explode", {}, "internal error in tool 'explode': KeyError"),
    ],
)
def test_errors_become_error_results(name: str, arguments: dict[str, object], expected: str) -> None:
    backend = Geometry()
    result = execute_tool_call(backend, ToolCall(name=name, arguments=arguments, id="call-7"))
    assert not result.ok
    assert expected in json.loads(result.content)["error"]
    assert result.error is not None and expected in result.error
    message = result.to_message()
    assert message.role == Role.TOOL and message.tool_call_id == "call-7" and message.name == name
    assert backend.calls == 0  # invalid calls never reach the method


def test_backend_methods_execute_and_aexecute() -> None:
    backend = Geometry()
    call = ToolCall(name="label", arguments={"name": "n"})
    assert backend.execute(call).content == '"n"'
    assert asyncio.run(backend.aexecute(call)).content == '"n"'
    assert backend.execute(call).backend == "Geometry"
