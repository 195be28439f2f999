"""Two-stage validation: the rules, the grounding heuristic, the judge, and samples."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from looptool.graphs.dialogue.config import DialogueSynthSettings
from looptool.graphs.validation.graph import ValidationContext, graph
from looptool.graphs.validation.rules import GroundingText, check_dialogue
from looptool.graphs.validation.samples import dialogue_samples
from looptool.schema import Dialogue, Message, OriginKind, Role, ToolCall, ToolSpec
from looptool.traces import EventKind, TraceStore
from tests.graphs.dialogue.fakes import ADD_TOOL, WEATHER_TOOL, ScriptedChatModel, verdict_json


def user(text: str) -> Message:
    return Message(role=Role.USER, content=text)


def calls(*items: tuple[str, dict[str, Any]]) -> Message:
    return Message(role=Role.ASSISTANT,
                   tool_calls=[ToolCall(name=name, arguments=args, id=f"c{i}") for i, (name, args) in enumerate(items)])


def tool(name: str, content: str) -> Message:
    return Message(role=Role.TOOL, name=name, content=content)


def text(content: str) -> Message:
    return Message(role=Role.ASSISTANT, content=content)


def rules_of(messages: list[Message], tools: list[ToolSpec] | None = None, **kwargs: Any) -> list[str]:
    settings = DialogueSynthSettings(**kwargs.pop("settings", {}))
    return [v.rule for v in check_dialogue(messages, tools or [ADD_TOOL, WEATHER_TOOL], settings, **kwargs)]


def test_clean_dialogue_passes() -> None:
    messages = [user("What's the weather in Paris? Also add 2 and 3."),
                calls(("get_weather", {"city": "Paris"}), ("add", {"a": 2, "b": 3})),
                tool("get_weather", '{"temperature": 21}'), tool("add", "5"),
                text("21 degrees in Paris; 2 + 3 = 5.")]
    assert rules_of(messages, stop_reason="plan_complete") == []


def test_invented_tool_is_rejected() -> None:
    messages = [user("Book me a flight to Rome"), calls(("book_flight", {"to": "Rome"}))]
    assert rules_of(messages) == ["unknown_tool"]


def test_missing_required_parameter_is_rejected() -> None:
    messages = [user("add 2 to something"), calls(("add", {"a": 2}))]
    assert rules_of(messages) == ["missing_required"]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"a": "2", "b": 3}, ["wrong_type"]),
        ({"a": 2, "b": 3, "c": 4}, []),  # no additionalProperties: false in the schema
    ],
)
def test_argument_types(arguments: dict[str, Any], expected: list[str]) -> None:
    messages = [user("add 2 and 3 and 4"), calls(("add", arguments))]
    assert rules_of(messages) == expected


def test_enum_violation_and_enum_values_need_no_grounding() -> None:
    bad = [user("weather in Oslo"), calls(("get_weather", {"city": "Oslo", "unit": "K"}))]
    assert rules_of(bad) == ["enum_violation"]
    good = [user("weather in Oslo"), calls(("get_weather", {"city": "Oslo", "unit": "F"}))]
    assert rules_of(good) == []


def test_hallucinated_value_is_rejected_but_values_from_tool_results_are_grounded() -> None:
    invented = [user("What's the weather like?"), calls(("get_weather", {"city": "Berlin"}))]
    assert rules_of(invented) == ["ungrounded_value"]
    invented_number = [user("add two numbers"), calls(("add", {"a": 17, "b": 25}))]
    assert rules_of(invented_number) == ["ungrounded_value", "ungrounded_value"]
    chained = [user("add 2 and 3, then add 10 to the result"), calls(("add", {"a": 2, "b": 3})),
               tool("add", "5"), calls(("add", {"a": 5, "b": 10}))]
    assert rules_of(chained) == []


def test_grounding_modes() -> None:
    messages = [user("What's the weather?"), calls(("get_weather", {"city": "Berlin"}))]
    assert rules_of(messages, settings={"grounding": "off"}) == []
    # optional parameters are only checked with grounding: all
    optional = ToolSpec(name="search", parameters={"type": "object", "properties": {
        "query": {"type": "string"}, "site": {"type": "string"}}, "required": ["query"]})
    msgs = [user("search for llamas"), calls(("search", {"query": "llamas", "site": "example.org"}))]
    assert rules_of(msgs, [optional]) == []
    assert rules_of(msgs, [optional], settings={"grounding": "all"}) == ["ungrounded_value"]


def test_grounding_text_heuristic() -> None:
    context = GroundingText([user("I'm flying to Paris on the 3rd, budget 1,500 dollars")])
    assert context.grounds_string("paris", 0.5)
    assert context.grounds_string("Paris, France", 0.5)  # one of two words
    assert not context.grounds_string("John Smith", 0.5)
    assert context.grounds_number(1500)
    assert context.grounds_number(3)
    assert not context.grounds_number(42)
    assert context.grounds_number(1)  # 0 and 1 are not judged


def test_placeholder_values_are_rejected() -> None:
    messages = [user("weather please"), calls(("get_weather", {"city": "<city>"}))]
    assert rules_of(messages) == ["placeholder_value"]


def test_call_in_irrelevance_dialogue_and_bad_stop_reasons() -> None:
    messages = [user("Play some jazz"), calls(("add", {"a": 1, "b": 1}))]
    assert rules_of(messages, irrelevant=True) == ["call_when_no_tool_fits"]
    assert rules_of([user("hi"), text("hello")], stop_reason="tool_failures") == [
        "stop:tool_failures", "no_tool_call"]
    assert rules_of([user("hi")]) == ["no_assistant_turn"]
    assert rules_of([user("hi"), text("x")], parse_errors=["invalid_json at offset 3"]) == [
        "malformed_output", "no_tool_call"]


def test_dialogue_without_any_call_is_rejected_unless_no_tool_fits() -> None:
    chat = [user("add 2 and 3"), text("Sure, happy to help!")]
    assert rules_of(chat) == ["no_tool_call"]
    assert rules_of(chat, irrelevant=True) == []
    assert rules_of(chat, settings={"require_tool_call": False}) == []


def _validate(tmp_path: Path, dialogue: Dialogue, judge_model: ScriptedChatModel | None, **settings: Any) -> tuple[dict[str, Any], TraceStore]:
    traces = TraceStore(tmp_path / "traces.sqlite")
    traces.start(dialogue.id)
    result: dict[str, Any] = asyncio.run(graph.ainvoke(
        {"dialogue": dialogue, "irrelevant": False, "stop_reason": "plan_complete", "parse_errors": []},
        context=ValidationContext(settings=DialogueSynthSettings(**settings), judge_model=judge_model,
                                  traces=traces),
    ))
    return result, traces


GOOD = Dialogue(id="d-good", tools=[ADD_TOOL], messages=[
    user("add 2 and 3"), calls(("add", {"a": 2, "b": 3})), tool("add", "5"), text("It is 5.")])


def test_judge_accepts_each_step(tmp_path: Path) -> None:
    judge = ScriptedChatModel(script=[verdict_json(True), verdict_json(True)])
    result, traces = _validate(tmp_path, GOOD, judge)
    assert result["status"] == "accepted" and result["stage"] == "judge"
    assert [j.step for j in result["judgements"]] == [0, 1]
    verdicts = traces.events("d-good", kind=EventKind.VERDICT)
    assert [event.node for event in verdicts] == ["rules", "judge", "judge"]


def test_judge_rejection_is_recorded_with_reason(tmp_path: Path) -> None:
    judge = ScriptedChatModel(script=[verdict_json(True), verdict_json(False, "the reply ignores the result")])
    result, traces = _validate(tmp_path, GOOD, judge)
    assert result["status"] == "rejected" and result["stage"] == "judge"
    assert result["reasons"] == ["step 1: judge: the reply ignores the result"]
    last = traces.events("d-good", kind=EventKind.VERDICT)[-1]
    assert last.data == {"step": 1, "consistent": False}
    assert last.content == "the reply ignores the result"


def test_rules_rejection_skips_the_judge(tmp_path: Path) -> None:
    bad = GOOD.model_copy(update={"messages": [user("add 2 and 3"), calls(("sum", {"a": 2, "b": 3}))]})
    judge = ScriptedChatModel(script=[])
    result, _ = _validate(tmp_path, bad, judge)
    assert result["status"] == "rejected" and result["stage"] == "rules"
    assert result["reasons"][0].startswith("step 0: unknown_tool")
    assert judge.calls == []


def test_judge_can_be_switched_off(tmp_path: Path) -> None:
    result, _ = _validate(tmp_path, GOOD, ScriptedChatModel(script=[]), judge=False)
    assert result["status"] == "accepted" and result["stage"] == "rules"


def test_samples_one_per_assistant_turn_with_seed_lineage() -> None:
    samples = dialogue_samples(GOOD)
    assert [sample.id for sample in samples] == ["d-good-t0", "d-good-t1"]
    assert samples[0].context == GOOD.messages[:1]
    assert samples[0].label_calls == [ToolCall(name="add", arguments={"a": 2, "b": 3})]
    assert samples[1].context == GOOD.messages[:3]
    assert samples[1].label_text == "It is 5." and samples[1].label_calls == []
    assert all(s.lineage.origin == OriginKind.SEED and s.lineage.stage == "seed" for s in samples)
    assert samples[0].lineage.notes[0] == "dialogue:d-good"
