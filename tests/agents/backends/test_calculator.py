"""The calculator evaluates arithmetic through an ast whitelist, never eval."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from looptool.agents.backends import create_backend
from looptool.agents.backends.base import ToolError
from looptool.agents.backends.calculator import evaluate_expression
from looptool.schema import ToolCall


def call(name: str, **arguments: Any) -> tuple[bool, Any]:
    backend = create_backend("calculator")
    result = backend.execute(ToolCall(name=name, arguments=arguments))
    return result.ok, json.loads(result.content)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ^ 10", 1024),
        ("-3 ** 2", -9),
        ("7 // 2 + 7 % 2", 4),
        ("sqrt(16) + abs(-2)", 6.0),
        ("max(1, 5, 3) - min(4, 2)", 3),
        ("round(pi, 2)", 3.14),
        ("10 / 4", 2.5),
        ("factorial(5)", 120),
    ],
)
def test_arithmetic(expression: str, value: float) -> None:
    assert evaluate_expression(expression) == pytest.approx(value)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('echo pwned')", "unknown function"),
        ("__import__('os')", "unknown function '__import__'"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("().__class__", "unsupported syntax: Attribute"),
        ("x + 1", "unknown name 'x'"),
        ("'a' * 3", "only numbers are allowed"),
        ("[1, 2]", "unsupported syntax: List"),
        ("(lambda: 1)()", "unknown function"),
        ("9 ** 9 ** 9", "exponent"),
        ("1 / 0", "division by zero"),
        ("10.0 ** 400", "cannot compute"),
        ("sqrt(-1)", "sqrt"),
        ("1 +", "cannot parse"),
        ("True + 1", "only numbers"),
    ],
)
def test_unsafe_or_invalid_expressions_are_refused(expression: str, message: str) -> None:
    with pytest.raises(ToolError, match=message.replace("(", r"\(").replace(")", r"\)")):
        evaluate_expression(expression)


def test_calculate_tool_and_history() -> None:
    backend = create_backend("calculator")
    ok = backend.execute(ToolCall(name="calculate", arguments={"expression": "1/3", "precision": 3}))
    assert json.loads(ok.content) == {"expression": "1/3", "result": 0.333}
    bad = backend.execute(ToolCall(name="calculate", arguments={"expression": "import os"}))
    assert not bad.ok and "cannot parse" in json.loads(bad.content)["error"]
    history = json.loads(backend.execute(ToolCall(name="get_history", arguments={})).content)
    assert history == [{"kind": "calculation", "query": "1/3", "result": 0.333}]
    assert backend.snapshot() == {"history": history}


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (1, "km", "m", 1000),
        (1, "mile", "km", 1.609344),
        (212, "F", "C", 100),
        (0, "celsius", "K", 273.15),
        (1, "GiB", "MB", 1073.741824),
        (2, "lb", "kg", 0.90718474),
        (1, "h", "s", 3600),
    ],
)
def test_unit_conversion(value: float, source: str, target: str, expected: float) -> None:
    ok, content = call("convert_units", value=value, from_unit=source, to_unit=target)
    assert ok and content["result"] == pytest.approx(expected)


def test_conversion_errors() -> None:
    assert call("convert_units", value=1, from_unit="kg", to_unit="m") == (
        False, {"error": "cannot convert mass (kg) to length (m)"})
    ok, content = call("convert_units", value=1, from_unit="parsec", to_unit="m")
    assert not ok and "unknown unit 'parsec'" in content["error"]
    ok, content = call("convert_units", value=-500, from_unit="C", to_unit="K")
    assert not ok and "absolute zero" in content["error"]
    ok, content = call("list_units", category="temperature")
    assert ok and content == {"temperature": ["C", "F", "K"]}
    assert math.isclose(call("convert_units", value=100, from_unit="C", to_unit="F")[1]["result"], 212)
