"""The strict checker takes only ``true``/``false`` (any case) for a boolean, never any
non-empty string: a mutation to ``bool(value)`` must fail here."""

from __future__ import annotations

import pytest

from looptool.benchmarks.acebench.checker_strict import check_normal_strict, values_equal
from looptool.schema import ToolCall

FUNCTIONS = [{"name": "plan", "parameters": {"type": "object", "properties": {"vegetarian": {"type": "boolean"}}}}]


@pytest.mark.parametrize("text", ["yes", "dinner", "1", "True ", " TRUE", "no", "false", ""])
def test_a_string_is_a_boolean_only_when_it_spells_one(text: str) -> None:
    spelled = text.strip().lower()
    assert values_equal(text, True) is (spelled == "true")
    assert values_equal(text, False) is (spelled == "false")
    assert values_equal(True, text) is (spelled == "true")


@pytest.mark.parametrize("value, ok", [(True, True), ("true", True), ("yes", False), ("dinner", False), (1, False)])
def test_the_strict_checker_refuses_a_word_for_true(value: object, ok: bool) -> None:
    call = ToolCall(name="plan", arguments={"vegetarian": value})
    assert check_normal_strict(FUNCTIONS, [call], {"plan": {"vegetarian": True}}).ok is ok
