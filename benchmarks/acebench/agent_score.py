"""Agent categories: end-state accuracy and process (milestone) accuracy (README §6.6).

``upstream`` reproduces the upstream comparison (misspelt class names silently unchecked,
extra dict keys undetected); ``strict`` maps the misspelt class names to the real ones and
compares every snapshotted attribute exactly (numbers by value, dicts and lists in full).
"""

from __future__ import annotations

import math
import re
from typing import Any

from looptool.agents.backends.acebench.environment import CLASS_ALIASES
from looptool.benchmarks.acebench.decode import decode_strict
from looptool.codecs import tool_calls_match

State = list[dict[str, dict[str, Any]]]


def end_state_upstream(result: State | None, ground_truth: State) -> bool:
    """Upstream's end-to-end check of the final snapshot against the ground truth."""
    if not result or len(result) != len(ground_truth):
        return False
    for expected_item in ground_truth:
        for class_name, expected in expected_item.items():
            actual = next((item[class_name] for item in result if class_name in item), None)
            if actual is None:
                continue  # e.g. ``ReminderAPI``: upstream silently skips the class
            for attribute, value in actual.items():
                if attribute not in expected:
                    return False
                wanted = expected[attribute]
                if isinstance(wanted, dict):
                    if not isinstance(value, dict):
                        return False
                    for key, item in wanted.items():
                        if key not in value or value[key] != item:
                            return False
                elif value != wanted:
                    return False
    return True


def exact_equal(left: Any, right: Any) -> bool:
    """Deep equality: numbers by value, booleans only equal booleans, strings exact."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return math.isclose(float(left), float(right), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(left, dict) and isinstance(right, dict):
        return set(map(str, left)) == set(map(str, right)) and all(
            exact_equal(left[key], right.get(key, right.get(str(key)))) for key in left
        )
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(exact_equal(a, b) for a, b in zip(left, right, strict=True))
    return bool(type(left) is type(right) and left == right)


def canonical_state(state: State) -> dict[str, dict[str, Any]]:
    """``[{Class: attrs}]`` -> ``{Class: attrs}`` with misspelt class names repaired."""
    merged: dict[str, dict[str, Any]] = {}
    for item in state:
        for class_name, attributes in item.items():
            merged[CLASS_ALIASES.get(class_name, class_name)] = attributes
    return merged


def end_state_strict(result: State | None, ground_truth: State) -> bool:
    if not result:
        return False
    return exact_equal(canonical_state(result), canonical_state(ground_truth))


def _same_step(process_item: str, milestone: str, *, strict: bool) -> bool:
    if process_item.strip() == milestone.strip():
        return True
    if not strict:
        return False
    left, right = decode_strict(process_item), parse_milestone(milestone)
    return left.ok and right is not None and tool_calls_match(left.calls, right)


def process_score(process: list[str], milestones: list[str], *, strict: bool) -> float:
    """Fraction of milestones found in order in the agent's executed messages.

    Upstream compares stripped strings exactly; ``strict`` also accepts a message whose
    parsed calls equal the milestone's (quoting and spacing free).
    """
    if not milestones:
        return 1.0
    matched = 0
    cursor = 0
    for milestone in milestones:
        for index in range(cursor, len(process)):
            if _same_step(process[index], milestone, strict=strict):
                matched += 1
                cursor = index + 1
                break
    return matched / len(milestones)


def process_accuracy(
    process: list[str], alternatives: list[list[str]], end_ok: bool, *, strict: bool
) -> float:
    """1.0 when the end state is right, else the best milestone fraction over alternatives."""
    if end_ok:
        return 1.0
    return max((process_score(process, option, strict=strict) for option in alternatives), default=0.0)


_INNER_APOSTROPHE = re.compile(r"(?<=[A-Za-z])'(?=[A-Za-z])")


def parse_milestone(text: str) -> list[Any] | None:
    """A milestone string as calls, repairing unescaped apostrophes (``'Domino's'``);
    ``None`` when it still does not parse."""
    decoded = decode_strict(text)
    if not decoded.ok:
        decoded = decode_strict(_INNER_APOSTROPHE.sub(r"\\'", text))
    return list(decoded.calls) if decoded.ok else None
