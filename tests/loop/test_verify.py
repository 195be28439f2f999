"""What the loop does with each JGLV verdict."""

from __future__ import annotations

from looptool.agents.label_judge import Verdict
from looptool.loop.records import ProbeRecord
from looptool.loop.verify import RELABEL_KEY, act_on_verdict
from looptool.schema import Message, OriginKind, Role, Sample, ToolCall, ToolSpec

TOOLS = [ToolSpec(name="f", parameters={"type": "object", "properties": {"x": {"type": "integer"}}})]
SAMPLE = Sample(id="s1", tools=TOOLS, context=[Message(role=Role.USER, content="f of 2")],
                label_calls=[ToolCall(name="f", arguments={"x": 3})])
PROBE = ProbeRecord(sample_id="s1", completion="...", predicted_calls=[ToolCall(name="f", arguments={"x": 2})],
                    matched=False, perplexity=4.0)


def act(verdict: Verdict, probe: ProbeRecord = PROBE, cut: float | None = 3.0, problem: str | None = None):
    return act_on_verdict(SAMPLE, probe, verdict, iteration=2, analysis="x should be 2", high_ppl_cut=cut,
                          rule_problem=lambda _: problem)


def test_pred_wrong_is_an_error_seed_with_its_label() -> None:
    outcome = act(Verdict.PRED_WRONG)
    assert outcome.action == "error_seed" and outcome.sample is SAMPLE


def test_label_wrong_relabels_and_keeps_the_old_label() -> None:
    outcome = act(Verdict.LABEL_WRONG)
    assert outcome.action == "relabeled" and outcome.sample is not None
    new = outcome.sample
    assert new.id == "s1~lr2" and new.label_calls == PROBE.predicted_calls
    assert new.lineage.origin == OriginKind.RELABELED and new.lineage.parent_id == "s1" and new.lineage.iteration == 2
    assert new.metadata[RELABEL_KEY]["label_calls"] == [{"name": "f", "arguments": {"x": 3}}]
    assert new.metadata[RELABEL_KEY]["verdict"] == "LABEL_WRONG"


def test_relabel_that_breaks_the_rules_is_rejected_with_the_reason() -> None:
    outcome = act(Verdict.LABEL_WRONG, problem="x is ungrounded")
    assert outcome.action == "relabel_rejected" and outcome.reason == "x is ungrounded" and outcome.sample is None


def test_relabel_to_an_unoffered_tool_is_rejected() -> None:
    probe = PROBE.model_copy(update={"predicted_calls": [ToolCall(name="g", arguments={})]})
    outcome = act(Verdict.LABEL_WRONG, probe=probe)
    assert outcome.action == "relabel_rejected" and "not a valid label" in outcome.reason


def test_text_prediction_relabels_to_a_text_label() -> None:
    probe = PROBE.model_copy(update={"predicted_calls": [], "predicted_text": "Which x?"})
    outcome = act(Verdict.LABEL_WRONG, probe=probe)
    assert outcome.sample is not None and outcome.sample.label_text == "Which x?" and not outcome.sample.label_calls


def test_both_correct_kept_only_when_high_ppl() -> None:
    assert act(Verdict.BOTH_CORRECT, cut=3.0).action == "kept_high_ppl"
    assert act(Verdict.BOTH_CORRECT, cut=5.0).action == "dropped"
    assert act(Verdict.BOTH_CORRECT, cut=None).action == "dropped"


def test_both_wrong_and_unjudged_are_dropped() -> None:
    assert act(Verdict.BOTH_WRONG).action == "dropped"
    assert act(Verdict.UNJUDGED).reason == "no valid judge vote"
    assert act(Verdict.UNDECIDED).action == "dropped"
