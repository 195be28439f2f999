"""Template files: rendering rules and the errors a broken template gets (file + id named)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from looptool.loop.seed import TemplateError, expand_curated, load_catalog
from looptool.loop.seed.render import render_text, render_value
from looptool.loop.seed.slots import draw_slots

GOOD = """
backend: calculator
instances: 2
templates:
  - id: t.single.add
    category: single
    tools: [calculate]
    user: "Add {a} and {b}."
    calls:
      - {name: calculate, arguments: {expression: "{a} + {b}"}}
    slots:
      a: {int: [1, 9]}
      b: {int: [10, 99]}
"""


def write(folder: Path, text: str, name: str = "set.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_render_keeps_lone_placeholders_typed() -> None:
    values = {"n": 3, "who": {"name": "Ana"}, "items": ["a", "b"]}
    assert render_value({"count": "{n}", "text": "n={n}", "list": "{items}", "x": ["{who.name}"]},
                        values) == {"count": 3, "text": "n=3", "list": ["a", "b"], "x": ["Ana"]}
    assert render_value({"/{who.name}.txt": "hi"}, values) == {"/Ana.txt": "hi"}
    assert render_text('{"json": 1} stays {n}', values) == '{"json": 1} stays 3'


def test_a_good_folder_loads_and_expands(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path / "good", GOOD))
    samples = expand_curated(catalog, seed=0).samples
    assert len(samples) == 2
    assert samples[0].label_calls[0].name == "calculate"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("calculate", "calculat"), "did you mean 'calculate'"),
        (('user: "Add {a} and {b}."', 'user: "Add {a} and {c}."'), "placeholder(s) naming no slot: ['c']"),
        (("category: single", "category: parallel"), "category 'parallel' needs two or more calls"),
        (("category: single", "category: sideways"), "template 't.single.add'"),
        (("a: {int: [1, 9]}", "a: {int: [9, 1]}"), "range 9..1 is empty"),
        (("a: {int: [1, 9]}", "a: {schema: calculate.precision}"), "has no enum"),
        (("a: {int: [1, 9]}", "a: {format: '{b}-{a}'}"), "cycle"),
        (("backend: calculator", "backend: calculater"), "unknown backend"),
        (("a: {int: [1, 9]}", "a: {int: [1, 9], pool: [1]}"), "exactly one of"),
    ],
)
def test_broken_templates_are_named(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    folder = write(tmp_path / "bad", GOOD.replace(*change))
    with pytest.raises(TemplateError) as caught:
        load_catalog(folder)
    assert message in str(caught.value)
    assert "set.yaml" in str(caught.value)


def test_library_context_call_needs_a_result(tmp_path: Path) -> None:
    folder = tmp_path / "lib"
    write(folder, """
library: tools.json
templates:
  - id: lib.multi_turn.weather
    category: multi_turn
    tools: [get_weather]
    context:
      - user: "Weather in {city}?"
        calls: [{name: get_weather, arguments: {city: "{city}"}}]
    user: "And again?"
    calls: [{name: get_weather, arguments: {city: "{city}"}}]
    slots:
      city: {pool: [Oslo]}
""")
    (folder / "tools.json").write_text(
        '[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",'
        ' "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]')
    with pytest.raises(TemplateError, match="needs a result"):
        load_catalog(folder)


def test_a_label_that_fails_when_run_rejects_the_template(tmp_path: Path) -> None:
    folder = write(tmp_path / "fails", GOOD.replace('expression: "{a} + {b}"', 'expression: "{a} / 0"'))
    with pytest.raises(TemplateError, match=r"t\.single\.add.*division by zero"):
        expand_curated(load_catalog(folder))


def test_duplicate_template_ids_across_files(tmp_path: Path) -> None:
    folder = write(tmp_path / "dup", GOOD)
    write(folder, GOOD, name="again.yaml")
    with pytest.raises(TemplateError, match="already used"):
        load_catalog(folder)


def test_after_and_format_slots_follow_their_base(tmp_path: Path) -> None:
    folder = write(tmp_path / "cal", """
backend: calendar
templates:
  - id: c.single.event
    category: single
    tools: [create_event]
    user: "Meeting on {day} from {start} to {end}"
    calls: [{name: create_event, arguments: {title: Meeting, start: "{begin}", end: "{day}T{end}"}}]
    slots:
      day: {date: [2026-01-01, 2026-01-31]}
      start: {time: ["09:00", "11:00"], step_minutes: 60}
      end: {after: {slot: start, minutes: [30]}}
      begin: {format: "{day}T{start}"}
""")
    bound = load_catalog(folder).template("c.single.event")
    values = draw_slots(bound.template, bound.tool_set, random.Random(4))
    assert values["begin"] == f"{values['day']}T{values['start']}"
    hours, minutes = values["start"].split(":")
    assert values["end"] == f"{hours}:30" and minutes == "00"
