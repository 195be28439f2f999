"""JGLV judging graph with scripted judges: verdict paths, execution evidence, A/B order
mapping, the panel rule, failing judges."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from looptool.agents.backends.registry import REGISTRY
from looptool.agents.label_judge import AnswerOrder, Prediction, Verdict
from looptool.graphs.judging import JglvSettings, LabelVerdict, judge_mismatch
from looptool.graphs.judging.graph import ballot_orders
from looptool.schema import Message, Role, Sample, ToolCall, ToolSpec
from looptool.traces import EventKind, TraceStore
from tests.fake_models import ScriptedChatModel
from tests.graphs.judging.replies import judge_json

WEATHER = ToolSpec(
    name="get_weather",
    description="Weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"},
                                                  "unit": {"type": "string", "enum": ["C", "F"]}},
                "required": ["city"]},
)


def weather_sample(sample_id: str = "s1", **label: Any) -> Sample:
    return Sample(
        id=sample_id, tools=[WEATHER],
        context=[Message(role=Role.USER, content="What's the weather in Paris, in Fahrenheit?")],
        label_calls=[ToolCall(name="get_weather", arguments=label or {"city": "Paris", "unit": "F"})],
    )


WRONG_PREDICTION = Prediction(calls=[ToolCall(name="get_weather", arguments={"city": "Paris", "unit": "C"})])


def fs_tools(*names: str) -> list[ToolSpec]:
    return [spec for spec in REGISTRY.get("filesystem").tool_specs() if spec.name in names]


def run(sample: Sample, prediction: Prediction, models: dict[str, ScriptedChatModel], *,
        traces: TraceStore | None = None, **settings: Any) -> LabelVerdict:
    return asyncio.run(judge_mismatch(sample, prediction, settings=JglvSettings(**settings),
                                      judges=models, traces=traces))


def answer_a_is_label(prompt: str) -> bool:
    """Whether the judge's prompt shows the label (unit F) as Answer A."""
    answer_a = prompt.split("Answer A:")[1].split("Answer B:")[0]
    return '"unit": "F"' in answer_a


def seed_with_order(order: AnswerOrder, seat: str = "judge") -> int:
    return next(seed for seed in range(100)
                if ballot_orders(JglvSettings(seed=seed), "s1", seat) == [order])


# ------------------------------------------------------------------ verdict paths


@pytest.mark.parametrize(("choice", "order", "verdict"), [
    ("A", AnswerOrder.LABEL_FIRST, Verdict.PRED_WRONG),
    ("B", AnswerOrder.LABEL_FIRST, Verdict.LABEL_WRONG),
    ("A", AnswerOrder.PREDICTION_FIRST, Verdict.LABEL_WRONG),
    ("B", AnswerOrder.PREDICTION_FIRST, Verdict.PRED_WRONG),
    ("both", AnswerOrder.LABEL_FIRST, Verdict.BOTH_CORRECT),
    ("neither", AnswerOrder.PREDICTION_FIRST, Verdict.BOTH_WRONG),
])
def test_each_verdict_maps_back_from_the_judges_a_b_choice(choice: str, order: AnswerOrder, verdict: Verdict) -> None:
    judge = ScriptedChatModel(replies=[judge_json(choice, "unit: the user asked for Fahrenheit")])
    result = run(weather_sample(), WRONG_PREDICTION, {"judge": judge}, seed=seed_with_order(order))
    assert result.verdict == verdict
    assert result.decided_by == "panel"
    assert result.votes[0].order == order
    assert result.analysis == "unit: the user asked for Fahrenheit"
    assert answer_a_is_label(judge.calls[0].text) == (order == AnswerOrder.LABEL_FIRST)


def test_random_order_is_seeded_and_the_judge_is_mapped_back_either_way() -> None:
    """A judge that always picks the answer with unit F: whatever order each seed draws, the
    verdict is PRED_WRONG, and both orders occur over the seeds."""
    orders = set()
    for seed in range(12):
        judge = ScriptedChatModel(replies=[lambda call: judge_json("A" if answer_a_is_label(call.text) else "B")])
        result = run(weather_sample(), WRONG_PREDICTION, {"judge": judge}, seed=seed)
        assert result.verdict == Verdict.PRED_WRONG
        assert result.votes[0].order == ballot_orders(JglvSettings(seed=seed), "s1", "judge")[0]
        orders.add(result.votes[0].order)
    assert orders == {AnswerOrder.LABEL_FIRST, AnswerOrder.PREDICTION_FIRST}


def test_text_reply_label_and_prediction_are_judged() -> None:
    sample = Sample(id="t1", tools=[WEATHER], context=[Message(role=Role.USER, content="What's the weather?")],
                    label_text="Which city do you mean?")
    prediction = Prediction.from_completion("It is sunny.")
    assert prediction.kind == "text"
    judge = ScriptedChatModel(replies=[judge_json("neither", "no city given; the prediction invents weather")])
    result = run(sample, prediction, {"judge": judge})
    assert result.verdict == Verdict.BOTH_WRONG
    assert "Which city do you mean?" in judge.calls[0].text and "It is sunny." in judge.calls[0].text
    assert result.evidence is not None and result.evidence.status == "not_applicable"


# ------------------------------------------------------------------ execution evidence


def test_equivalent_execution_decides_both_correct_without_a_judge_call(tmp_path: Path) -> None:
    sample = Sample(id="fs1", tools=fs_tools("mkdir", "ls"),
                    context=[Message(role=Role.USER, content="Create the folder /reports")],
                    label_calls=[ToolCall(name="mkdir", arguments={"path": "/reports"})])
    prediction = Prediction(calls=[ToolCall(name="mkdir", arguments={"path": "reports"})])
    judge = ScriptedChatModel(replies=[])
    traces = TraceStore(tmp_path / "traces.sqlite")
    result = run(sample, prediction, {"judge": judge}, traces=traces)
    assert result.verdict == Verdict.BOTH_CORRECT
    assert result.decided_by == "execution"
    assert judge.calls == []  # no judge call
    assert result.evidence is not None and result.evidence.same_end_state and result.evidence.same_results
    assert result.evidence.backends == {"mkdir": "filesystem", "ls": "filesystem"}
    info = traces.trace("jglv:fs1")
    assert info is not None and info.status == "BOTH_CORRECT"


def test_different_execution_is_shown_to_the_judge() -> None:
    sample = Sample(id="fs2", tools=fs_tools("mkdir", "ls"),
                    context=[Message(role=Role.USER, content="Create the folder /reports")],
                    label_calls=[ToolCall(name="mkdir", arguments={"path": "/reports"})])
    prediction = Prediction(calls=[ToolCall(name="mkdir", arguments={"path": "/report"})])
    judge = ScriptedChatModel(replies=[judge_json("neither")])
    result = run(sample, prediction, {"judge": judge})
    assert len(judge.calls) == 1
    assert result.evidence is not None and result.evidence.status == "different"
    assert result.evidence.same_end_state is False
    assert "executed on fresh copies" in judge.calls[0].text and '"/report"' in judge.calls[0].text
    assert "end state differs" in judge.calls[0].text


def test_context_calls_are_replayed_before_each_answer_runs() -> None:
    sample = Sample(
        id="fs3", tools=fs_tools("mkdir", "cd", "ls"),
        context=[Message(role=Role.USER, content="make docs and go there, then make notes"),
                 Message(role=Role.ASSISTANT, tool_calls=[ToolCall(name="mkdir", arguments={"path": "/docs"})]),
                 Message(role=Role.TOOL, name="mkdir", content='"/docs"'),
                 Message(role=Role.ASSISTANT, tool_calls=[ToolCall(name="cd", arguments={"path": "/docs"})]),
                 Message(role=Role.TOOL, name="cd", content='"/docs"')],
        label_calls=[ToolCall(name="mkdir", arguments={"path": "notes"})])
    prediction = Prediction(calls=[ToolCall(name="mkdir", arguments={"path": "/docs/notes"})])
    result = run(sample, prediction, {"judge": ScriptedChatModel(replies=[])})
    assert result.decided_by == "execution"
    assert result.evidence is not None and result.evidence.replayed_calls == 2


def test_execution_evidence_can_be_switched_off() -> None:
    sample = Sample(id="fs4", tools=fs_tools("mkdir"), context=[Message(role=Role.USER, content="mkdir /a")],
                    label_calls=[ToolCall(name="mkdir", arguments={"path": "/a"})])
    judge = ScriptedChatModel(replies=[judge_json("both")])
    result = run(sample, Prediction(calls=[ToolCall(name="mkdir", arguments={"path": "a"})]),
                 {"judge": judge}, execution_evidence=False)
    assert result.decided_by == "panel" and result.evidence is None and len(judge.calls) == 1


# ------------------------------------------------------------------ orders, panel


def test_both_orders_record_position_disagreement() -> None:
    """A judge that always says "A": label-first -> PRED_WRONG, prediction-first -> LABEL_WRONG."""
    judge = ScriptedChatModel(replies=[judge_json("A")], repeat_last=True)
    result = run(weather_sample(), WRONG_PREDICTION, {"judge": judge}, orders="both")
    assert len(judge.calls) == 2
    assert {vote.order for vote in result.votes} == set(AnswerOrder)
    assert result.position_disagreement is True
    assert result.verdict == Verdict.UNDECIDED and result.panel_rule == "tie"


def test_both_orders_agreeing_decide_without_disagreement() -> None:
    judge = ScriptedChatModel(replies=[lambda call: judge_json("A" if answer_a_is_label(call.text) else "B")],
                          repeat_last=True)
    result = run(weather_sample(), WRONG_PREDICTION, {"judge": judge}, orders="both")
    assert result.verdict == Verdict.PRED_WRONG and result.panel_rule == "agreement"
    assert result.position_disagreement is False


def test_panel_of_one_takes_its_verdict() -> None:
    result = run(weather_sample(), WRONG_PREDICTION,
                 {"judge": ScriptedChatModel(replies=[judge_json("both")])}, seed=seed_with_order(AnswerOrder.LABEL_FIRST))
    assert result.verdict == Verdict.BOTH_CORRECT and result.panel_rule == "single" and len(result.votes) == 1


def test_panel_of_three_selects_by_strict_majority() -> None:
    judge = ScriptedChatModel(replies=[judge_json("neither"), judge_json("neither")], repeat_last=True)
    generator = ScriptedChatModel(replies=[judge_json("both")])
    result = run(weather_sample(), WRONG_PREDICTION, {"judge": judge, "generator": generator},
                 judges=["judge", "generator"], panel_size=3)
    assert [vote.judge for vote in result.votes] == ["judge#1", "generator", "judge#2"]
    assert result.verdict == Verdict.BOTH_WRONG and result.panel_rule == "majority"
    assert len(judge.calls) == 2 and len(generator.calls) == 1


def test_panel_of_three_without_majority_is_undecided() -> None:
    models = {"judge": ScriptedChatModel(replies=[judge_json("neither")]),
              "generator": ScriptedChatModel(replies=[judge_json("both")]),
              "policy": ScriptedChatModel(replies=[lambda call: judge_json("A" if answer_a_is_label(call.text) else "B")])}
    result = run(weather_sample(), WRONG_PREDICTION, models, judges=["judge", "generator", "policy"])
    assert result.verdict == Verdict.UNDECIDED and result.panel_rule == "no_majority"
    assert result.decided_by == "panel"


# ------------------------------------------------------------------ failing judges


def test_malformed_replies_are_re_asked_then_retried_then_unjudged(tmp_path: Path) -> None:
    judge = ScriptedChatModel(replies=["not json at all"], repeat_last=True)
    traces = TraceStore(tmp_path / "traces.sqlite")
    result = run(weather_sample(), WRONG_PREDICTION, {"judge": judge}, traces=traces,
                 parse_retries=1, judge_retries=1)
    assert len(judge.calls) == 4  # (1 ask + 1 re-ask) x (1 try + 1 retry)
    assert "not usable" in judge.calls[1].text  # the re-ask quotes the problem
    assert result.verdict == Verdict.UNJUDGED and result.decided_by == "unjudged"
    vote = result.votes[0]
    assert vote.verdict == Verdict.UNJUDGED and vote.attempts == 2
    assert vote.error is not None and "no valid JudgeReply" in vote.error
    assert traces.trace("jglv:s1").status == "UNJUDGED"  # type: ignore[union-attr]
    assert len(traces.events("jglv:s1", kind=EventKind.LLM_CALL)) == 4


def test_a_malformed_reply_then_a_good_one_counts() -> None:
    judge = ScriptedChatModel(replies=["{oops", judge_json("both")])
    result = run(weather_sample(), WRONG_PREDICTION, {"judge": judge})
    assert result.verdict == Verdict.BOTH_CORRECT and result.votes[0].attempts == 1


def test_endpoint_timeout_becomes_an_unjudged_vote() -> None:
    judge = ScriptedChatModel(replies=[TimeoutError("read timed out")], repeat_last=True)
    result = run(weather_sample(), WRONG_PREDICTION, {"judge": judge}, judge_retries=2)
    assert len(judge.calls) == 3
    assert result.verdict == Verdict.UNJUDGED
    assert "TimeoutError: read timed out" in (result.votes[0].error or "")


def test_slow_judge_hits_the_call_timeout_and_the_panel_goes_on() -> None:
    slow = ScriptedChatModel(replies=[judge_json("both")], repeat_last=True, delay_s=2.0)
    fast = ScriptedChatModel(replies=[judge_json("neither")])
    result = run(weather_sample(), WRONG_PREDICTION, {"judge": slow, "generator": fast},
                 judges=["judge", "generator"], judge_retries=0, timeout_s=0.2)
    slow_vote = next(vote for vote in result.votes if vote.judge == "judge")
    assert slow_vote.verdict == Verdict.UNJUDGED and "TimeoutError" in (slow_vote.error or "")
    assert result.verdict == Verdict.BOTH_WRONG and result.panel_rule == "single"


def test_unparseable_prediction_is_shown_raw() -> None:
    prediction = Prediction.from_completion('<tool_call>\n{"name": "get_weather", "arguments": {\n</tool_call>')
    assert prediction.kind == "unparseable"
    judge = ScriptedChatModel(replies=[judge_json("A")])
    result = run(weather_sample(), prediction, {"judge": judge}, seed=seed_with_order(AnswerOrder.LABEL_FIRST))
    assert result.verdict == Verdict.PRED_WRONG
    assert "malformed tool-call output" in judge.calls[0].text


def test_the_judge_is_asked_for_a_json_schema_and_traced(tmp_path: Path) -> None:
    judge = ScriptedChatModel(replies=[judge_json("both")])
    traces = TraceStore(tmp_path / "traces.sqlite")
    run(weather_sample(), WRONG_PREDICTION, {"judge": judge}, traces=traces)
    schema = judge.calls[0].kwargs["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["correct"]["enum"] == ["A", "B", "both", "neither"]
    nodes = [event.node for event in traces.events("jglv:s1", kind=EventKind.NODE)]
    assert nodes == ["evidence", "label_judge", "tally"]
    verdicts = traces.events("jglv:s1", kind=EventKind.VERDICT)
    assert [event.node for event in verdicts] == ["label_judge", "tally"]
    assert json.loads(json.dumps(verdicts[0].data))["verdict"] == "BOTH_CORRECT"


def test_a_role_without_a_model_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no chat model for judge role"):
        run(weather_sample(), WRONG_PREDICTION, {"judge": ScriptedChatModel(replies=[])}, judges=["judge", "generator"])


def test_settings_refuse_unknown_roles_and_prompt_names() -> None:
    with pytest.raises(ValueError, match="unknown model role"):
        JglvSettings(judges=["oracle"])
    with pytest.raises(ValueError, match="unknown prompt name"):
        JglvSettings(prompts={"judge": "x"})


@pytest.mark.parametrize(("entry", "nodes"), [
    ("jglv_judging", {"evidence", "label_judge", "tally"}),
    ("edde_expansion", {"generate", "check", "validate", "finish"}),
])
def test_langgraph_json_lists_the_loop_graphs(entry: str, nodes: set[str]) -> None:
    import importlib

    root = Path(__file__).resolve().parents[3]
    target = json.loads((root / "langgraph.json").read_text(encoding="utf-8"))["graphs"][entry]
    module_path, _, attribute = target.partition(":")
    module = importlib.import_module("looptool." + module_path.removeprefix("./").removesuffix(".py").replace("/", "."))
    graph = getattr(module, attribute)
    assert graph.name == entry
    assert nodes <= set(graph.get_graph().nodes)
