"""Gold outputs: each possible answer rendered as the model's reply (for tests and the
re-scoring benchmark). Upstream's gold replay (README §7) drops every ``_<digits>`` suffix;
``exact_names=True`` keeps a suffix that is part of a real function name."""

from __future__ import annotations

from typing import Any

from looptool.benchmarks.acebench.checker_strict import answer_name
from looptool.benchmarks.acebench.checker_upstream import alternatives, strip_suffix
from looptool.benchmarks.acebench.data import AceItem
from looptool.benchmarks.acebench.special import gold_special_text
from looptool.benchmarks.base import EntryOutput, ModelReply, TurnOutput
from looptool.codecs import render_python
from looptool.schema import ToolCall


def gold_calls(functions: list[dict[str, Any]], ground_truth: Any, *, exact_names: bool) -> list[ToolCall]:
    """The first answer alternative as calls."""
    options = alternatives(ground_truth)
    if not options:
        return []
    names = {str(f.get("name")) for f in functions if isinstance(f, dict)}
    return [
        ToolCall(name=answer_name(key, names) if exact_names else strip_suffix(key), arguments=dict(args))
        for key, args in options[0].items()
    ]


def gold_text(stem: str, functions: list[dict[str, Any]], ground_truth: Any, *, exact_names: bool) -> str:
    """The reply a perfect model would give for one normal or special record."""
    if stem.startswith("special_"):
        return gold_special_text(stem, ground_truth)
    return render_python(gold_calls(functions, ground_truth, exact_names=exact_names))


def gold_output(item: AceItem, entry_id: str, category: str, *, exact_names: bool) -> EntryOutput:
    """A stored output as a perfect model would leave it: the answer text per turn (prompt
    mode), or for agent items the ground-truth end state and the first milestone sequence."""
    if item.agent_answer is not None:
        return EntryOutput(
            entry_id=entry_id,
            category=category,
            extra={
                "function_calling": False,
                "state": item.agent_answer.ground_truth,
                "process": item.agent_answer.milestone_alternatives()[0],
            },
        )
    turns = []
    for turn in item.turns:
        text = gold_text(item.stem, turn.record.function, turn.answer, exact_names=exact_names)
        turns.append(TurnOutput(replies=[ModelReply(text=text, raw=text)]))
    return EntryOutput(entry_id=entry_id, category=category, turns=turns, extra={"function_calling": False})
