"""Score one stored ACEBench output in both modes (``upstream`` and ``strict``).

Pure: the item (record + possible answer) and the stored replies in, verdicts out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from looptool.benchmarks.acebench.agent_score import (
    end_state_strict,
    end_state_upstream,
    process_accuracy,
)
from looptool.benchmarks.acebench.categories import Kind
from looptool.benchmarks.acebench.checker_strict import check_normal_strict
from looptool.benchmarks.acebench.checker_upstream import Verdict, check_normal
from looptool.benchmarks.acebench.data import AceItem, Turn
from looptool.benchmarks.acebench.decode import decode_strict, decode_upstream
from looptool.benchmarks.acebench.special import check_special
from looptool.benchmarks.base import ModelReply

MODES = ("upstream", "strict")


@dataclass
class ItemScore:
    """Both modes' score of one item, the process accuracy where defined, and why."""

    upstream: float
    strict: float
    process: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    valid: bool = True

    def of(self, mode: str) -> float:
        return self.upstream if mode == "upstream" else self.strict


def reply_text(reply: ModelReply) -> str:
    """The raw completion (prompt modes) or the visible text (function calling)."""
    return reply.raw or reply.text


def _score_turn(item: AceItem, turn: Turn, reply: ModelReply | None, function_calling: bool) -> tuple[Verdict, Verdict, bool]:
    """(upstream verdict, strict verdict, output well-formed) of one record."""
    if reply is None:
        missing = Verdict.failed("no_reply")
        return missing, missing, False
    if reply.error:
        failed = Verdict.failed(f"request_error: {reply.error[:200]}")
        return failed, failed, False
    if item.kind is Kind.SPECIAL:
        verdict = check_special(item.stem, reply_text(reply), turn.answer)
        return verdict, verdict, True
    functions = turn.record.function
    if function_calling and reply.tool_calls:
        calls = list(reply.tool_calls)
        return check_normal(functions, calls, turn.answer), check_normal_strict(functions, calls, turn.answer), True
    text = reply_text(reply)
    upstream_decoded = decode_upstream(text, multi_turn=item.kind is Kind.NORMAL_MULTI_TURN)
    strict_decoded = decode_strict(text)
    upstream = (
        check_normal(functions, upstream_decoded.calls, turn.answer)
        if upstream_decoded.ok
        else Verdict.failed(upstream_decoded.error or "wrong_output_format")
    )
    strict = (
        check_normal_strict(functions, strict_decoded.calls, turn.answer)
        if strict_decoded.ok
        else Verdict.failed(f"wrong_output_format: {strict_decoded.error}")
    )
    return upstream, strict, upstream_decoded.ok or strict_decoded.ok


def score_prompt_item(item: AceItem, replies: Sequence[ModelReply | None], function_calling: bool) -> ItemScore:
    """Normal / special items; a multi-turn conversation passes only if every turn passes."""
    verdicts = [
        _score_turn(item, turn, replies[index] if index < len(replies) else None, function_calling)
        for index, turn in enumerate(item.turns)
    ]
    upstream_passed = [v[0].ok for v in verdicts]
    strict_passed = [v[1].ok for v in verdicts]
    details: dict[str, Any] = {
        "upstream_errors": [v[0].error for v in verdicts if not v[0].ok],
        "strict_errors": [v[1].error for v in verdicts if not v[1].ok],
    }
    process: dict[str, float] = {}
    if item.kind is Kind.NORMAL_MULTI_TURN:
        process = {
            "upstream": sum(upstream_passed) / len(verdicts),
            "strict": sum(strict_passed) / len(verdicts),
        }
        details["turns"] = len(verdicts)
    return ItemScore(
        upstream=float(all(upstream_passed)),
        strict=float(all(strict_passed)),
        process=process,
        details=details,
        valid=all(v[2] for v in verdicts),
    )


def score_agent_item(item: AceItem, extra: dict[str, Any]) -> ItemScore:
    """End state (the category accuracy) and process accuracy of an agent episode."""
    answer = item.agent_answer
    if answer is None:
        raise ValueError(f"{item.id}: agent item without its possible answer")
    state = extra.get("state")
    process = [str(step) for step in extra.get("process", []) or []]
    upstream_ok = end_state_upstream(state, answer.ground_truth)
    strict_ok = end_state_strict(state, answer.ground_truth)
    alternatives = answer.milestone_alternatives()
    return ItemScore(
        upstream=float(upstream_ok),
        strict=float(strict_ok),
        process={
            "upstream": process_accuracy(process, alternatives, upstream_ok, strict=False),
            "strict": process_accuracy(process, alternatives, strict_ok, strict=True),
        },
        details={"has_state": state is not None, "steps": len(process)},
        valid=state is not None,
    )
