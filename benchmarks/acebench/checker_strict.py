"""The ``strict`` normal-category checker: upstream's intent without its defects.

* calls are matched one to one (order free), names exactly (an answer key keeps its
  ``_<digits>`` suffix when that is the real function name);
* the output's arguments must be exactly the answer's arguments (no extra, none missing);
* values compare by value, recursively: numbers numerically (``1 == 1.0``, ``"5" == 5``),
  booleans as booleans (``"true"`` accepted), strings after upstream's normalisation
  (case, spaces and ``,./-_*^`` ignored) but for equality, not substring; lists in order,
  dicts key by key, empty lists and dicts like any other value.
"""

from __future__ import annotations

import math
from typing import Any

from looptool.benchmarks.acebench.checker_upstream import (
    Verdict,
    alternatives,
    normalize,
    strip_suffix,
)
from looptool.schema import ToolCall


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def values_equal(output: Any, answer: Any) -> bool:
    """Strict, recursive value equality (see the module docstring)."""
    if isinstance(answer, bool) or isinstance(output, bool):
        def as_bool(value: Any) -> bool | None:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
            return None

        left, right = as_bool(output), as_bool(answer)
        return left is not None and left == right
    if isinstance(answer, int | float) or isinstance(output, int | float):
        left_number, right_number = _as_number(output), _as_number(answer)
        if left_number is None or right_number is None:
            return False
        return math.isclose(left_number, right_number, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(answer, str) or isinstance(output, str):
        return isinstance(answer, str) and isinstance(output, str) and normalize(output) == normalize(answer)
    if isinstance(answer, list | tuple):
        return (
            isinstance(output, list | tuple)
            and len(output) == len(answer)
            and all(values_equal(o, a) for o, a in zip(output, answer, strict=True))
        )
    if isinstance(answer, dict):
        return (
            isinstance(output, dict)
            and set(map(str, output)) == set(map(str, answer))
            and all(values_equal(output[key], answer[key]) for key in output)
        )
    return bool(output == answer)


def answer_name(key: str, function_names: set[str]) -> str:
    """The function an answer key names: itself when a function has that exact name."""
    return key if key in function_names else strip_suffix(key)


def call_matches(call: ToolCall, name: str, answer_args: dict[str, Any]) -> bool:
    if call.name != name or set(call.arguments) != set(answer_args):
        return False
    return all(values_equal(call.arguments[key], answer_args[key]) for key in answer_args)


def _match_all(calls: list[ToolCall], expected: list[tuple[str, dict[str, Any]]]) -> bool:
    """Is there a one-to-one assignment of calls to expected calls (small sizes: backtrack)?"""
    if not expected:
        return not calls
    name, args = expected[0]
    for index, call in enumerate(calls):
        if call_matches(call, name, args) and _match_all(calls[:index] + calls[index + 1 :], expected[1:]):
            return True
    return False


def check_alternative_strict(
    functions: list[dict[str, Any]], calls: list[ToolCall], answer: dict[str, Any]
) -> Verdict:
    names = {str(f.get("name")) for f in functions if isinstance(f, dict)}
    expected = [
        (answer_name(key, names), args if isinstance(args, dict) else {}) for key, args in answer.items()
    ]
    if len(calls) != len(expected):
        return Verdict.failed("wrong_count")
    if sorted(call.name for call in calls) != sorted(name for name, _ in expected):
        return Verdict.failed("function_mismatch")
    return Verdict.passed() if _match_all(list(calls), expected) else Verdict.failed("value_mismatch")


def check_normal_strict(functions: list[dict[str, Any]], calls: list[ToolCall], ground_truth: Any) -> Verdict:
    first: Verdict | None = None
    for answer in alternatives(ground_truth):
        verdict = check_alternative_strict(functions, calls, answer)
        if verdict.ok:
            return verdict
        first = first or verdict
    return first or Verdict.failed("no_answer")
