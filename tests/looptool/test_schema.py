import json
import os

import pytest

from looptool.jsonl import DataFileError, read_jsonl, write_jsonl
from looptool.schema import (
    Dialogue,
    Lineage,
    Message,
    OriginKind,
    Role,
    Sample,
    SpecError,
    ToolCall,
    ToolSpec,
    load_tool_spec,
)

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}


def make_sample(sample_id="s1", **update):
    data = dict(
        id=sample_id,
        tools=[load_tool_spec(WEATHER)],
        context=[Message(role=Role.USER, content="Weather in Paris?")],
        label_calls=[ToolCall(name="get_weather", arguments={"city": "Paris"})],
        lineage=Lineage(origin=OriginKind.EXPANDED, parent_id="s0", iteration=2, stage="edde"),
    )
    data.update(update)
    return Sample(**data)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({**WEATHER, "name": ""}, "name"),
        ({**WEATHER, "name": "has space"}, "name"),
        ({"description": "no name", "parameters": {"type": "object"}}, "name"),
        ({**WEATHER, "parameters": {"type": "object", "properties": {"a": {"type": "strin"}}}}, "parameters"),
        ({**WEATHER, "parameters": {"type": "object", "properties": {}, "required": ["x"]}}, "parameters"),
        ({**WEATHER, "parameters": {"type": "array"}}, "parameters"),
        ({**WEATHER, "surprise": 1}, "surprise"),
    ],
)
def test_invalid_spec_names_field(spec, field):
    with pytest.raises(SpecError) as error:
        load_tool_spec(spec)
    assert f"field '{field}" in str(error.value)


def test_duplicate_tool_names_rejected():
    tool = load_tool_spec(WEATHER)
    with pytest.raises(ValueError, match="duplicate tool name 'get_weather'"):
        Dialogue(id="d", tools=[tool, tool], messages=[])


def test_openai_format_accepted():
    spec = ToolSpec.from_openai({"type": "function", "function": WEATHER})
    assert spec.name == "get_weather" and spec.required == ["city"]
    assert spec.to_openai()["function"]["parameters"] == WEATHER["parameters"]


def test_sample_label_must_name_offered_tool():
    with pytest.raises(ValueError, match="not offered"):
        make_sample(label_calls=[ToolCall(name="book_flight")])


def test_sample_needs_exactly_one_label_kind():
    with pytest.raises(ValueError, match="needs a label"):
        make_sample(label_calls=[])
    with pytest.raises(ValueError, match="not both"):
        make_sample(label_text="hello")
    assert make_sample(label_calls=[], label_text="Which city?").label_kind == "text"


def test_tool_message_needs_name():
    with pytest.raises(ValueError, match="tool message"):
        Message(role=Role.TOOL, content="42")
    with pytest.raises(ValueError, match="only assistant"):
        Message(role=Role.USER, tool_calls=[ToolCall(name="f")])


def test_jsonl_round_trip(tmp_path):
    samples = [make_sample(f"s{i}") for i in range(3)]
    path = tmp_path / "data" / "samples.jsonl"
    assert write_jsonl(path, samples) == 3
    assert read_jsonl(path, Sample) == samples
    first = json.loads(path.read_text().splitlines()[0])
    assert first["schema_version"] == 1
    assert first["lineage"] == {"origin": "expanded", "parent_id": "s0", "iteration": 2, "stage": "edde", "notes": [],
                                "source_item": None, "dialogue_id": None}


def test_jsonl_bad_record_names_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = make_sample().model_dump_json()
    bad = json.loads(good)
    bad["tools"][0]["name"] = "bad name"
    path.write_text(good + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataFileError, match=r"record 2: field 'tools.0.name'"):
        read_jsonl(path, Sample)
    path.write_text(good + "\n{oops\n")
    with pytest.raises(DataFileError, match=r"bad.jsonl:2: invalid JSON"):
        read_jsonl(path, Sample)


def test_atomic_write_leaves_no_partial_file(tmp_path):
    path = tmp_path / "samples.jsonl"
    write_jsonl(path, [make_sample("old")])
    before = path.read_text()

    def exploding():
        yield make_sample("new1")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(path, exploding())
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["samples.jsonl"]


def test_torn_tail_tolerated_only_when_asked(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(make_sample().model_dump_json() + "\n" + '{"id": "s2", "to')
    with pytest.raises(DataFileError):
        read_jsonl(path, Sample)
    assert len(read_jsonl(path, Sample, skip_torn_tail=True)) == 1


def test_lineage_dialogue_id_is_a_field_and_old_notes_migrate():
    old = Lineage.model_validate({"origin": "seed", "notes": ["dialogue:dlg-000007", "turn:2"]})
    assert old.dialogue_id == "dlg-000007" and old.notes == ["turn:2"]
    assert Lineage.model_validate(old.model_dump()) == old  # written back without the note
    new = Lineage.model_validate({"dialogue_id": "dlg-1", "notes": ["dialogue:other"]})
    assert new.dialogue_id == "dlg-1" and new.notes == ["dialogue:other"]  # the field wins
    assert Lineage().dialogue_id is None


def test_old_sample_line_gets_its_dialogue_id(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text(json.dumps({
        "schema_version": 1, "id": "dlg-000001-t0", "tools": [], "context": [],
        "label_text": "hello", "lineage": {"origin": "seed", "notes": ["dialogue:dlg-000001", "turn:0"]},
    }) + "\n")
    [sample] = read_jsonl(path, Sample)
    assert sample.lineage.dialogue_id == "dlg-000001" and sample.now is None
