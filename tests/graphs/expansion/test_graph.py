"""EDDE expansion graph with a scripted generator: k samples, local rejections with reasons,
duplicates, lineage, the injected validator, failing generators."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from looptool.agents.label_judge import Prediction
from looptool.graphs.expansion import (
    EddeSettings,
    ErrorSeed,
    ExpansionResult,
    RulesValidator,
    Validation,
    expand_error_seed,
)
from looptool.schema import Lineage, Message, OriginKind, Role, Sample, ToolCall, ToolSpec
from looptool.traces import EventKind, TraceStore
from tests.fake_models import ScriptedChatModel

WEATHER = ToolSpec(
    name="get_weather",
    description="Weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"},
                                                  "unit": {"type": "string", "enum": ["C", "F"]}},
                "required": ["city"]},
)


def error_seed(**sample_fields: Any) -> ErrorSeed:
    fields: dict[str, Any] = {
        "id": "s1", "tools": [WEATHER],
        "context": [Message(role=Role.SYSTEM, content="You are a weather bot."),
                    Message(role=Role.USER, content="What's the weather in Paris, in Fahrenheit?")],
        "label_calls": [ToolCall(name="get_weather", arguments={"city": "Paris", "unit": "F"})],
        "now": "2026-03-14 09:00",
        "lineage": Lineage(source_item="tpl-7", dialogue_id="dlg-3"),
    }
    fields.update(sample_fields)
    return ErrorSeed(sample=Sample(**fields),
                     wrong=Prediction(calls=[ToolCall(name="get_weather", arguments={"city": "Paris", "unit": "C"})]),
                     analysis="unit: the user asked for Fahrenheit, the prediction used C", iteration=2)


def entry(user: str, calls: list[dict[str, Any]] | None = None, text: str | None = None) -> dict[str, Any]:
    return {"user_message": user, "label_calls": calls or [], "label_text": text}


def weather(city: str, unit: str = "F") -> dict[str, Any]:
    return {"name": "get_weather", "arguments": {"city": city, "unit": unit}}


def batch(*entries: dict[str, Any]) -> str:
    return json.dumps({"samples": list(entries)})


def expand(seed: ErrorSeed, generator: ScriptedChatModel, **kwargs: Any) -> ExpansionResult:
    settings = kwargs.pop("settings", EddeSettings())
    return asyncio.run(expand_error_seed(seed, settings=settings, generator=generator,
                                         focus=kwargs.pop("focus", "persona: a hurried nurse"), **kwargs))


def reasons_of(result: ExpansionResult) -> list[str]:
    return [reason for rejected in result.rejected for reason in rejected.reasons]


def test_k_samples_produced_schema_invalid_rejected_duplicates_dropped(tmp_path: Path) -> None:
    generator = ScriptedChatModel(replies=[batch(
        entry("How warm is it in Oslo? Fahrenheit please.", [weather("Oslo")]),
        entry("Weather for Lima in kelvin-ish F?", [weather("Lima", "K")]),
        entry("  how warm is it in OSLO? fahrenheit please. ", [weather("Oslo")]),
        entry("Is it cold in Tokyo today, in F?", [weather("Tokyo")]),
    )])
    traces = TraceStore(tmp_path / "traces.sqlite")
    result = expand(error_seed(), generator, traces=traces)
    assert result.asked == 4 and result.produced == 4
    assert [sample.label_calls[0].arguments["city"] for sample in result.accepted] == ["Oslo", "Tokyo"]
    assert len(result.rejected) == 2
    schema, duplicate = result.rejected
    assert schema.stage == "local" and schema.candidate.user_message.startswith("Weather for Lima")
    assert any(reason.startswith("enum_violation") and "'K'" in reason for reason in schema.reasons)
    assert duplicate.reasons == ["duplicate: same user message as candidate 1"]
    assert len(generator.calls) == 1
    info = traces.trace("edde:s1:2")
    assert info is not None and info.status == "done" and info.metadata["accepted"] == 2
    verdicts = traces.events("edde:s1:2", kind=EventKind.VERDICT)
    assert sum(1 for event in verdicts if event.data.get("accepted")) == 2


def test_expanded_samples_carry_lineage_and_the_seeds_setting() -> None:
    generator = ScriptedChatModel(replies=[batch(entry("Rome weather in F?", [weather("Rome")]))])
    result = expand(error_seed(), generator, k=1)
    (sample,) = result.accepted
    assert sample.tools == [WEATHER]
    assert [message.role for message in sample.context] == [Role.SYSTEM, Role.USER]
    assert sample.context[0].content == "You are a weather bot." and sample.context[1].content == "Rome weather in F?"
    assert sample.now == "2026-03-14 09:00"
    lineage = sample.lineage
    assert lineage.origin == OriginKind.EXPANDED and lineage.parent_id == "s1"
    assert lineage.stage == "edde" and lineage.iteration == 2
    assert lineage.source_item == "tpl-7" and lineage.dialogue_id == "dlg-3"
    assert "focus: persona: a hurried nurse" in lineage.notes
    assert sample.id.startswith("s1~ee2-")


def test_unknown_tool_wrong_label_kind_and_seed_duplicate_are_rejected_with_reasons() -> None:
    generator = ScriptedChatModel(replies=[batch(
        entry("Book me a table in Oslo", [{"name": "book_table", "arguments": {"city": "Oslo"}}]),
        entry("Tell me about Oslo", text="Oslo is the capital of Norway."),
        entry("What's the weather in Paris, in Fahrenheit?", [weather("Paris")]),
        entry("", [weather("Bern")]),
    )])
    result = expand(error_seed(), generator)
    assert result.accepted == []
    reasons = reasons_of(result)
    assert any(reason.startswith("unknown_tool: 'book_table'") for reason in reasons)
    assert "label_kind: the seed's label is single, this one is text" in reasons
    assert "duplicate: same user message as the seed" in reasons
    assert any(reason.startswith("empty_user_message") for reason in reasons)


def test_parallel_seed_needs_parallel_variants() -> None:
    seed = error_seed(context=[Message(role=Role.USER, content="Weather in Paris and Rome, in F")],
                      label_calls=[ToolCall(name="get_weather", arguments={"city": "Paris", "unit": "F"}),
                                   ToolCall(name="get_weather", arguments={"city": "Rome", "unit": "F"})])
    generator = ScriptedChatModel(replies=[batch(
        entry("Weather in Oslo and Bergen in F", [weather("Oslo"), weather("Bergen")]),
        entry("Weather in Lima in F", [weather("Lima")]),
    )])
    result = expand(seed, generator, k=2)
    assert [len(sample.label_calls) for sample in result.accepted] == [2]
    assert reasons_of(result) == ["label_kind: the seed's label is parallel, this one is single"]
    assert "makes 2 tool calls in one step" in generator.calls[0].text


def test_text_label_seed_expands_into_text_labels() -> None:
    seed = error_seed(context=[Message(role=Role.USER, content="What's the weather?")], label_calls=[],
                      label_text="Which city do you mean?")
    generator = ScriptedChatModel(replies=[batch(entry("How's the weather looking?", text="For which city?"))])
    result = expand(seed, generator, k=1)
    assert [sample.label_text for sample in result.accepted] == ["For which city?"]
    assert "text reply without any tool call" in generator.calls[0].text


def test_the_generator_sees_the_error_and_the_focus_and_samples_at_the_set_temperature() -> None:
    generator = ScriptedChatModel(replies=[batch(entry("Rome weather in F?", [weather("Rome")]))])
    expand(error_seed(), generator, k=3, settings=EddeSettings(temperature=1.1))
    prompt = generator.calls[0].text
    assert "Write 3 NEW examples" in prompt and "persona: a hurried nurse" in prompt
    assert "the prediction used C" in prompt and '"unit": "C"' in prompt
    assert "2026-03-14 09:00" in prompt
    assert generator.calls[0].kwargs["temperature"] == 1.1
    assert generator.calls[0].kwargs["response_format"]["json_schema"]["name"] == "GeneratedBatch"


def test_extra_samples_beyond_k_are_rejected_not_lost() -> None:
    generator = ScriptedChatModel(replies=[batch(entry("Rome weather in F?", [weather("Rome")]),
                                             entry("Oslo weather in F?", [weather("Oslo")]))])
    result = expand(error_seed(), generator, k=1)
    assert result.produced == 2 and len(result.accepted) == 1
    assert reasons_of(result) == ["beyond_k: the generator returned more than k=1"]


def test_injected_validator_decides_and_a_failing_one_rejects_with_the_reason() -> None:
    class PickyValidator:
        def __init__(self) -> None:
            self.seen: list[str] = []

        async def __call__(self, sample: Sample) -> Validation:
            self.seen.append(sample.id)
            city = sample.label_calls[0].arguments["city"]
            if city == "Lima":
                raise RuntimeError("judge endpoint down")
            return Validation(accepted=city == "Rome", reason="" if city == "Rome" else "judge: not hard enough")

    validator = PickyValidator()
    generator = ScriptedChatModel(replies=[batch(entry("Rome weather in F?", [weather("Rome")]),
                                             entry("Oslo weather in F?", [weather("Oslo")]),
                                             entry("Lima weather in F?", [weather("Lima")]))])
    result = expand(error_seed(), generator, k=3, validator=validator)
    assert len(validator.seen) == 3
    assert [sample.label_calls[0].arguments["city"] for sample in result.accepted] == ["Rome"]
    assert {rejected.stage for rejected in result.rejected} == {"validator"}
    assert sorted(reasons_of(result)) == ["judge: not hard enough",
                                          "validator_error: RuntimeError: judge endpoint down"]
    assert all(rejected.sample is not None for rejected in result.rejected)


def test_rules_validator_rejects_values_not_in_the_user_message() -> None:
    generator = ScriptedChatModel(replies=[batch(entry("What's it like outside in F?", [weather("Madrid")]))])
    result = expand(error_seed(), generator, k=1, validator=RulesValidator())
    assert result.accepted == []
    assert "ungrounded_value" in reasons_of(result)[0]


def test_malformed_generator_reply_is_re_asked_then_retried_then_recorded(tmp_path: Path) -> None:
    generator = ScriptedChatModel(replies=["here are some samples!"], repeat_last=True)
    traces = TraceStore(tmp_path / "traces.sqlite")
    result = expand(error_seed(), generator, traces=traces,
                    settings=EddeSettings(parse_retries=1, generator_retries=1))
    assert len(generator.calls) == 4
    assert result.failed and result.produced == 0 and result.accepted == [] and result.rejected == []
    assert len(result.generator_errors) == 2 and "no valid GeneratedBatch" in result.generator_errors[0]
    assert traces.trace("edde:s1:2").status == "failed"  # type: ignore[union-attr]


def test_generator_timeout_is_recorded_not_raised() -> None:
    generator = ScriptedChatModel(replies=[batch(entry("Rome weather in F?", [weather("Rome")]))],
                              repeat_last=True, delay_s=2.0)
    result = expand(error_seed(), generator, settings=EddeSettings(generator_retries=0, timeout_s=0.2))
    assert result.failed and result.generator_errors == ["attempt 1: TimeoutError"]


def test_focus_is_drawn_from_the_list_and_stable() -> None:
    settings = EddeSettings(focus=["persona: a pilot", "data variation: odd units", "complexity: two constraints"])
    draws = [settings.draw_focus("s1", 1, request) for request in range(20)]
    assert set(draws) <= set(settings.focus) and len(set(draws)) > 1
    assert draws == [settings.draw_focus("s1", 1, request) for request in range(20)]
    generator = ScriptedChatModel(replies=[batch(entry("Rome weather in F?", [weather("Rome")]))])
    seed = error_seed()
    result = asyncio.run(expand_error_seed(seed, settings=settings, generator=generator))
    assert result.focus == settings.draw_focus("s1", 2)


def test_settings_refuse_unknown_role_and_empty_focus() -> None:
    with pytest.raises(ValueError, match="unknown model role"):
        EddeSettings(role="oracle")
    with pytest.raises(ValueError, match="focus entry is empty"):
        EddeSettings(focus=["  "])
