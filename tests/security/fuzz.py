"""A seeded, time-bounded fuzzer for the hostile-input tests (no extra dependency).

:func:`hostile_texts` yields random and adversarial model replies; :func:`hostile_values`
random JSON-ish and non-JSON argument values; :func:`run_bounded` calls a function on
generated inputs until a time budget is spent, failing when one call is too slow.
"""

from __future__ import annotations

import json
import random
import string
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

SEED = 12
"""Fixed so a failure reproduces; the failing input is in the assertion message."""

FRAGMENTS = [
    "<tool_call>", "</tool_call>", "<think>", "</think>", "{", "}", "[", "]", "(", ")", '"', "'",
    ":", ",", "=", "\\", "\n", "\r\n", "\x00", "\ud800", "é", "東京", "🚀", "name", "arguments",
    '"name": "f"', '"arguments": ', "f(", "x=", "**kw", "...", "b'a'", "1+2j", "{1, 2}",
    "float('inf')", "NaN", "Infinity", "-", "1e999", "9" * 5000, "__import__('os')",
    "lambda: 1", "```python\n", "```", "\t", "\u2028",
]
"""Pieces of the formats the parsers read, plus characters and literals that broke them."""


def adversarial_texts() -> list[str]:
    """The known hostile replies: over-long integers, deep nesting, non-JSON literals."""
    deep = "[" * 100_000 + "]" * 100_000
    return [
        '<tool_call>{"name": "f", "arguments": {"x": ' + "1" * 5000 + "}}</tool_call>",
        '<tool_call>{"name": "f", "arguments": {"x": ' + deep + "}}</tool_call>",
        '<tool_call>{"name": "f", "arguments": {"x": ' + "[" * 950 + "]" * 950 + "}}</tool_call>",
        '<tool_call>{"name": "f", "arguments": "{\\"x\\": ' + "[" * 5000 + '"}</tool_call>',
        "<tool_call>" * 10_000,
        "[f(x={1, 2})]", "[f(x=b'a')]", "[f(x=1+2j)]", "[f(x=...)]", "[f(x={1: 2})]",
        "f(x=" + "1" * 5000 + ")", "f(x=" + "[" * 300 + "]" * 300 + ")",
        "-" * 100_000 + "1", "a." * 50_000 + "b(x=1)", "f(x='\ud800')", "f(x=1)\x00",
        "f(" + "x=1, " * 50_000 + ")", deep,
    ]


def random_text(rng: random.Random, max_pieces: int = 40) -> str:
    """Fragments and random characters glued together."""
    pieces: list[str] = []
    for _ in range(rng.randint(0, max_pieces)):
        roll = rng.random()
        if roll < 0.6:
            pieces.append(rng.choice(FRAGMENTS))
        elif roll < 0.8:
            pieces.append("".join(rng.choices(string.printable, k=rng.randint(1, 8))))
        else:
            pieces.append("".join(chr(rng.randint(0, 0x2FFFF)) for _ in range(rng.randint(1, 4))))
    return "".join(pieces)


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """A random argument value: mostly JSON, sometimes huge, deep or not JSON at all."""
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return rng.choice([
            None, True, False, 0, -1, 2**63, 10**30, 1.5, float("inf"), float("nan"), -1e308, "",
            "x", "../../etc/passwd", "/" * 3000, "a" * 2000, "\x00", "\ud800", "2026-03-14",
            "2026-03-14garbage", "2026-03-14T09:00:00+05:00", "99999-99-99", "km", "mph", "1e999",
            random_text(rng, 6),
        ])
    if roll < 0.5:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if roll < 0.65:
        return {random_text(rng, 2): random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if roll < 0.75:
        return rng.choice([b"bytes", {1, 2}, 1 + 2j, ..., (1, 2), object(), 10**20, -(10**20)])
    return rng.randint(-(10**6), 10**6)


@dataclass
class FuzzReport:
    calls: int = 0
    slowest_s: float = 0.0


def run_bounded(
    call: Callable[[Any], object],
    inputs: Iterator[Any],
    *,
    budget_s: float,
    per_call_s: float,
) -> FuzzReport:
    """Call ``call`` on ``inputs`` until they run out or ``budget_s`` is spent; a call slower
    than ``per_call_s`` fails the test (naming its input). Exceptions propagate."""
    report = FuzzReport()
    deadline = time.perf_counter() + budget_s
    for item in inputs:
        started = time.perf_counter()
        call(item)
        took = time.perf_counter() - started
        assert took < per_call_s, f"call took {took:.2f}s on {str(item)[:200]!r}"
        report.calls += 1
        report.slowest_s = max(report.slowest_s, took)
        if time.perf_counter() > deadline:
            break
    return report


def random_reply(rng: random.Random) -> str:
    """A well-formed call (Hermes or Python syntax) whose argument is a random value."""
    value = random_value(rng)
    if rng.random() < 0.5:
        try:
            body = json.dumps({"name": "f", "arguments": {"x": value}})
        except (TypeError, ValueError):  # not JSON: sets, bytes, ...
            body = json.dumps({"name": "f", "arguments": {"x": repr(value)}})
        return f"<tool_call>\n{body}\n</tool_call>"
    return f"[f(x={value!r})]"


def texts(count: int, seed: int = SEED) -> Iterator[str]:
    """The adversarial texts, then ``count`` random ones (a third of them well-formed calls)."""
    yield from adversarial_texts()
    rng = random.Random(seed)
    for _ in range(count):
        yield random_reply(rng) if rng.random() < 0.33 else random_text(rng)
