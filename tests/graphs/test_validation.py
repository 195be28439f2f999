"""Two-stage validation of dialogues and samples: the rules, the grounding heuristic, the step
judge, the settings, and dialogue -> samples."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from looptool.config import ConfigError, load_config
from looptool.graphs.dialogue.config import DialogueSynthSettings
from looptool.graphs.validation.graph import ValidationContext, graph, validate_sample
from looptool.graphs.validation.rules import GroundingText, check_dialogue
from looptool.graphs.validation.samples import dialogue_samples
from looptool.graphs.validation.settings import JudgeCall, ValidationSettings
from looptool.schema import Dialogue, Message, OriginKind, Role, Sample, ToolCall, ToolSpec
from looptool.traces import EventKind, TraceStore
from tests.fake_models import ScriptedChatModel
from tests.graphs.dialogue.fakes import ADD_TOOL, WEATHER_TOOL, verdict_json


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
    settings = ValidationSettings(**kwargs.pop("settings", {}))
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
        # the dialogue_synth section itself: its validation settings and judge call are unpacked
        context=ValidationContext(settings=DialogueSynthSettings(**settings), judge_model=judge_model,
                                  traces=traces),
    ))
    return result, traces


GOOD = Dialogue(id="d-good", tools=[ADD_TOOL], messages=[
    user("add 2 and 3"), calls(("add", {"a": 2, "b": 3})), tool("add", "5"), text("It is 5.")])


def test_judge_accepts_each_step(tmp_path: Path) -> None:
    judge = ScriptedChatModel(replies=[verdict_json(True), verdict_json(True)])
    result, traces = _validate(tmp_path, GOOD, judge)
    assert result["status"] == "accepted" and result["stage"] == "judge"
    assert [j.step for j in result["judgements"]] == [0, 1]
    verdicts = traces.events("d-good", kind=EventKind.VERDICT)
    assert [event.node for event in verdicts] == ["rules", "judge", "judge"]


def test_judge_rejection_is_recorded_with_reason(tmp_path: Path) -> None:
    judge = ScriptedChatModel(replies=[verdict_json(True), verdict_json(False, "the reply ignores the result")])
    result, traces = _validate(tmp_path, GOOD, judge)
    assert result["status"] == "rejected" and result["stage"] == "judge"
    assert result["reasons"] == ["step 1: judge: the reply ignores the result"]
    last = traces.events("d-good", kind=EventKind.VERDICT)[-1]
    assert last.data == {"step": 1, "consistent": False}
    assert last.content == "the reply ignores the result"


def test_rules_rejection_skips_the_judge(tmp_path: Path) -> None:
    bad = GOOD.model_copy(update={"messages": [user("add 2 and 3"), calls(("sum", {"a": 2, "b": 3}))]})
    judge = ScriptedChatModel(replies=[])
    result, _ = _validate(tmp_path, bad, judge)
    assert result["status"] == "rejected" and result["stage"] == "rules"
    assert result["reasons"][0].startswith("step 0: unknown_tool")
    assert judge.calls == []


def test_judge_can_be_switched_off(tmp_path: Path) -> None:
    result, _ = _validate(tmp_path, GOOD, ScriptedChatModel(replies=[]), judge=False)
    assert result["status"] == "accepted" and result["stage"] == "rules"


def test_samples_one_per_assistant_turn_with_seed_lineage() -> None:
    samples = dialogue_samples(GOOD)
    assert [sample.id for sample in samples] == ["d-good-t0", "d-good-t1"]
    assert samples[0].context == GOOD.messages[:1]
    assert samples[0].label_calls == [ToolCall(name="add", arguments={"a": 2, "b": 3})]
    assert samples[1].context == GOOD.messages[:3]
    assert samples[1].label_text == "It is 5." and samples[1].label_calls == []
    assert all(s.lineage.origin == OriginKind.SEED and s.lineage.stage == "seed" for s in samples)
    assert [s.lineage.dialogue_id for s in samples] == ["d-good", "d-good"]
    assert samples[1].lineage.notes == ["turn:1"]


def test_samples_keep_system_messages_and_the_dialogue_date() -> None:
    system = Message(role=Role.SYSTEM, content="You are the travel desk of ACME.")
    dialogue = GOOD.model_copy(update={"messages": [system, *GOOD.messages], "metadata": {"now": "2024-07-14 06:00"}})
    first = dialogue_samples(dialogue)[0]
    assert first.context == [system, GOOD.messages[0]]
    assert first.now == "2024-07-14 06:00"


# ----------------------------------------------------------------- settings


def test_dialogue_synth_embeds_validation_and_reads_old_flat_keys() -> None:
    assert DialogueSynthSettings().validation == ValidationSettings()
    old = DialogueSynthSettings.model_validate({"judge": False, "grounding": "off", "concurrency": 2})
    assert old.validation == ValidationSettings(judge=False, grounding="off")
    assert old.judge is False
    config = load_config(overrides=["dialogue_synth.grounding_min_overlap=0.8",
                                    "dialogue_synth.validation.require_tool_call=false"])
    section = config.section("dialogue_synth", DialogueSynthSettings)
    assert (section.validation.grounding_min_overlap, section.validation.require_tool_call) == (0.8, False)


def test_a_validation_key_set_both_ways_is_refused() -> None:
    with pytest.raises(ConfigError, match="'judge' is set both directly and under 'validation'"):
        load_config(overrides=["dialogue_synth.judge=false", "dialogue_synth.validation.judge=true"])


def test_the_judge_is_called_with_the_sections_role_and_knobs() -> None:
    section = DialogueSynthSettings.model_validate(
        {"roles": {"judge": "generator"}, "parse_retries": 0, "structured_output": "json_object",
         "trace_prompts": False})
    context = ValidationContext(section)
    assert context.settings == section.validation
    assert context.judge_call == JudgeCall(role="generator", structured_method="json_object",
                                           parse_retries=0, record_prompts=False)


# ----------------------------------------------------------------- samples


def sample(label_calls: list[ToolCall] | None = None, label_text: str | None = None, *,
           context: list[Message] | None = None, now: str | None = None) -> Sample:
    return Sample(id="s-1", tools=[ADD_TOOL, WEATHER_TOOL], context=context or [user("add 2 and 3")],
                  label_calls=label_calls or [], label_text=label_text, now=now)


def _validate_sample(tmp_path: Path, item: Sample, judge_model: ScriptedChatModel | None, **settings: Any) -> tuple[Any, TraceStore]:
    traces = TraceStore(tmp_path / "traces.sqlite")
    verdict = asyncio.run(validate_sample(item, settings=ValidationSettings(**settings),
                                          judge_model=judge_model, traces=traces))
    return verdict, traces


def test_a_good_sample_is_accepted_by_the_rules_and_the_judge(tmp_path: Path) -> None:
    judge = ScriptedChatModel(replies=[verdict_json(True, "adds what was asked")])
    verdict, traces = _validate_sample(tmp_path, sample([ToolCall(name="add", arguments={"a": 2, "b": 3})]), judge)
    assert verdict.accepted and verdict.stage == "judge" and verdict.reason == ""
    assert verdict.violations == []
    assert verdict.judgement is not None and verdict.judgement.reason == "adds what was asked"
    assert len(judge.calls) == 1  # only the label step is judged
    assert [event.node for event in traces.events("s-1", kind=EventKind.VERDICT)] == ["rules", "judge"]


def test_a_schema_violating_label_is_rejected_with_the_violation_named(tmp_path: Path) -> None:
    judge = ScriptedChatModel(replies=[])
    verdict, _ = _validate_sample(tmp_path, sample([ToolCall(name="add", arguments={"a": "2", "b": 3})]), judge)
    assert not verdict.accepted and verdict.stage == "rules"
    assert [v.rule for v in verdict.violations] == ["wrong_type"]
    assert verdict.reason.startswith("step 0: wrong_type: add: a: '2' is not of type 'integer'")
    assert verdict.judgement is None and judge.calls == []


def test_an_ungrounded_label_value_is_rejected_and_the_step_index_counts_the_context(tmp_path: Path) -> None:
    context = [user("add 2 and 3"), calls(("add", {"a": 2, "b": 3})), tool("add", "5"), user("now add 4 to it")]
    item = sample([ToolCall(name="add", arguments={"a": 5, "b": 40})], context=context)
    verdict, _ = _validate_sample(tmp_path, item, None)
    assert [(v.rule, v.step) for v in verdict.violations] == [("ungrounded_value", 1)]
    assert "b=40 does not occur in the text before the call" in verdict.reason
    grounded = sample([ToolCall(name="add", arguments={"a": 5, "b": 4})], context=context)
    assert _validate_sample(tmp_path, grounded, None)[0].accepted


def test_a_value_grounded_only_in_the_system_message_or_the_date_passes() -> None:
    weather = [ToolCall(name="get_weather", arguments={"city": "Lisbon"})]
    settings = ValidationSettings(judge=False)
    bare = asyncio.run(validate_sample(sample(weather, context=[user("weather here?")]),
                                       settings=settings, judge_model=None))
    assert [v.rule for v in bare.violations] == ["ungrounded_value"]
    system = Message(role=Role.SYSTEM, content="The user lives in Lisbon.")
    kept = asyncio.run(validate_sample(sample(weather, context=[system, user("weather here?")]),
                                       settings=settings, judge_model=None))
    assert kept.accepted and kept.stage == "rules"
    dated = sample([ToolCall(name="add", arguments={"a": 2024, "b": 1})], context=[user("add one to this year")],
                   now="2024-07-14")
    assert asyncio.run(validate_sample(dated, settings=settings, judge_model=None)).accepted


def test_the_judge_rejects_a_sample_and_sees_its_system_message_and_date(tmp_path: Path) -> None:
    judge = ScriptedChatModel(replies=[verdict_json(False, "the user asked for tomorrow")])
    system = Message(role=Role.SYSTEM, content="Be brief.")
    item = sample(label_text="It is sunny today.", context=[system, user("weather tomorrow?")], now="2024-07-14 06:00")
    verdict, traces = _validate_sample(tmp_path, item, judge)
    assert not verdict.accepted and verdict.stage == "judge"
    assert verdict.judgement is not None and verdict.judgement.model_dump() == {
        "step": 0, "reason": "the user asked for tomorrow", "consistent": False}
    assert verdict.reason == "step 0: judge: the user asked for tomorrow"
    prompt = str(judge.calls[0].messages[0].content)
    assert "(current date and time: 2024-07-14 06:00)" in prompt and "(system: Be brief.)" in prompt
    assert traces.events("s-1", kind=EventKind.VERDICT)[-1].data == {"step": 0, "consistent": False}


def test_an_unusable_judge_reply_rejects_the_sample(tmp_path: Path) -> None:
    judge = ScriptedChatModel(replies=["no json here", "still none", "nope"])
    verdict, _ = _validate_sample(tmp_path, sample([ToolCall(name="add", arguments={"a": 2, "b": 3})]), judge)
    assert not verdict.accepted and verdict.judgement is not None
    assert verdict.judgement.reason.startswith("no usable verdict:")


def test_a_call_in_an_irrelevant_sample_is_a_violation() -> None:
    verdict = asyncio.run(validate_sample(sample([ToolCall(name="add", arguments={"a": 2, "b": 3})]),
                                          settings=ValidationSettings(), judge_model=None, irrelevant=True))
    assert [v.rule for v in verdict.violations] == ["call_when_no_tool_fits"]


def test_the_graph_needs_exactly_one_subject() -> None:
    with pytest.raises(ValueError, match="exactly one of 'dialogue' or 'sample'"):
        asyncio.run(graph.ainvoke({"irrelevant": False}, context=ValidationContext(ValidationSettings())))
