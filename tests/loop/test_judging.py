"""The JGLV stage over many mismatches: actions per verdict, journaled, the no-JGLV ablation."""

from __future__ import annotations

import asyncio
from pathlib import Path

from looptool.graphs.judging.settings import JglvSettings
from looptool.loop.judging import Mismatch, judge_mismatches
from looptool.loop.records import ProbeRecord
from looptool.schema import Message, Role, Sample, ToolCall, ToolSpec
from tests.fake_models import ScriptedChatModel
from tests.graphs.judging.replies import judge_json

TOOL = ToolSpec(name="lookup", description="Look a word up.",
                parameters={"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]})


def mismatch(index: int) -> Mismatch:
    sample = Sample(id=f"s{index}", tools=[TOOL], context=[Message(role=Role.USER, content=f"look up w{index}")],
                    label_calls=[ToolCall(name="lookup", arguments={"word": f"w{index}"})])
    completion = '<tool_call>\n{"name": "lookup", "arguments": {"word": "other"}}\n</tool_call>'
    probe = ProbeRecord(sample_id=sample.id, completion=completion, matched=False,
                        predicted_calls=[ToolCall(name="lookup", arguments={"word": "other"})])
    return Mismatch(sample, probe)


def run(items: list[Mismatch], journal: Path, judges: dict[str, ScriptedChatModel] | None):
    return asyncio.run(judge_mismatches(items, iteration=1, settings=JglvSettings(execution_evidence=False),
                                        judges=judges, journal=journal, high_ppl_cut=None,
                                        rule_problem=lambda _: None, progress=False))


def test_both_wrong_verdicts_drop_and_a_rerun_asks_nobody_again(tmp_path: Path) -> None:
    judge = ScriptedChatModel(replies=[judge_json("neither", "both miss the word")], repeat_last=True)
    journal = tmp_path / "judge.journal.jsonl"
    result = run([mismatch(0), mismatch(1)], journal, {"judge": judge})
    assert result.summary.verdicts == {"BOTH_WRONG": 2} and result.summary.actions == {"dropped": 2}
    assert result.error_seeds == [] and len(judge.calls) == 2
    again = run([mismatch(0), mismatch(1), mismatch(2)], journal, {"judge": judge})
    assert again.summary.judged == 3 and len(judge.calls) == 3


def test_no_jglv_ablation_makes_every_mismatch_an_error_seed(tmp_path: Path) -> None:
    result = run([mismatch(0), mismatch(1)], tmp_path / "j.jsonl", None)
    assert [s.id for s in result.error_seeds] == ["s0", "s1"]
    assert {r.decided_by for r in result.records} == {"ablation"}
