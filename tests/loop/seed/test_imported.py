"""Importing OpenAI-messages JSONL: one sample per assistant turn, bad lines reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from looptool.loop.seed import import_openai_jsonl, source_item
from looptool.schema import Role

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}

GOOD = {
    "messages": [
        {"role": "system", "content": "You are a travel assistant."},
        {"role": "user", "content": "Weather in Oslo and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}},
            {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "{\"temp\": 3}"},
        {"role": "tool", "tool_call_id": "c2", "content": "{\"temp\": 21}"},
        {"role": "assistant", "content": [{"type": "text", "text": "Oslo 3 °C, Rome 21 °C."}]},
        {"role": "user", "content": "Thanks!"},
        {"role": "assistant", "content": "You're welcome.", "weight": 0},
    ],
    "tools": [WEATHER],
}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    bad_tool = {"messages": GOOD["messages"][:3], "tools": [{"type": "function", "function": {
        "name": "get weather", "parameters": {"type": "object"}}}]}
    unknown_call = {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "x", "type": "function",
                                              "function": {"name": "book_taxi", "arguments": "{}"}}]},
        {"role": "user", "content": "and?"},
        {"role": "assistant", "content": "Nothing else."}], "tools": [WEATHER]}
    return write_lines(tmp_path / "chats.jsonl", [
        json.dumps(GOOD),
        "{not json",
        "",
        json.dumps({"tools": [WEATHER]}),
        json.dumps(bad_tool),
        json.dumps(unknown_call),
        json.dumps({"messages": [{"role": "wizard", "content": "?"}]}),
    ])


def test_every_assistant_turn_becomes_a_sample(data_file: Path) -> None:
    result = import_openai_jsonl([data_file])
    first, second = [sample for sample in result.samples if "-L1-" in sample.id]
    assert [call.arguments["city"] for call in first.label_calls] == ["Oslo", "Rome"]
    assert [message.role for message in first.context] == [Role.SYSTEM, Role.USER]
    assert first.context[0].content == "You are a travel assistant."
    assert second.label_text == "Oslo 3 °C, Rome 21 °C." and not second.label_calls
    assert [message.role for message in second.context][-2:] == [Role.TOOL, Role.TOOL]
    assert second.context[-1].name == "get_weather" and second.context[-1].tool_call_id == "c2"
    assert first.tools[0].name == "get_weather"
    for sample in (first, second):
        assert sample.lineage.origin == "imported"
        assert source_item(sample) == f"{data_file}:1"
        assert f"source:{data_file}:1" in sample.lineage.notes


def test_weight_zero_turns_are_context_only(data_file: Path) -> None:
    result = import_openai_jsonl([data_file])
    assert not any(sample.label_text == "You're welcome." for sample in result.samples)


def test_bad_lines_are_reported_with_file_line_and_reason(data_file: Path) -> None:
    result = import_openai_jsonl([data_file])
    problems = {problem.line: str(problem) for problem in result.problems}
    assert sorted(problems) == [2, 4, 5, 6, 7]
    assert problems[2].startswith(f"{data_file}:2: not valid JSON")
    assert "'messages' is missing" in problems[4]
    assert "tools[0]" in problems[5] and "get weather" in problems[5]
    assert "assistant turn 0" in problems[6] and "book_taxi" in problems[6]
    assert "unknown role 'wizard'" in problems[7]
    # the good turn of line 6 is still imported
    assert [sample.label_text for sample in result.samples if "-L6-" in sample.id] == ["Nothing else."]
    assert result.lines == 6


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        import_openai_jsonl([tmp_path / "nope.jsonl"])


def test_ids_differ_between_files_of_one_name(tmp_path: Path) -> None:
    a = write_lines((tmp_path / "a").mkdir() or tmp_path / "a" / "x.jsonl", [json.dumps(GOOD)])
    b = write_lines((tmp_path / "b").mkdir() or tmp_path / "b" / "x.jsonl", [json.dumps(GOOD)])
    samples = import_openai_jsonl([a, b]).samples
    assert len({sample.id for sample in samples}) == len(samples) == 4
