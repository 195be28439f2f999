"""Held-out split by source item, and the de-duplication key."""

from __future__ import annotations

import random

import pytest

from looptool.loop.seed import (
    curated_origin,
    dedup_key,
    drop_heldout_duplicates,
    source_item,
    split_heldout,
    with_demonstrations,
)
from looptool.schema import Lineage, Message, OriginKind, Role, Sample, ToolCall, ToolSpec

TOOL = ToolSpec(name="add", parameters={"type": "object", "properties": {
    "a": {"type": "number"}, "b": {"type": "number"}}})
OTHER = ToolSpec(name="mul", parameters=TOOL.parameters)


def dialogue_turns(dialogue: int, turns: int = 3) -> list[Sample]:
    """Samples cut from one simulated dialogue, the way graphs/validation makes them."""
    samples = []
    for turn in range(turns):
        context = [Message(role=Role.USER, content=f"dialogue {dialogue} request {turn}")]
        samples.append(Sample(
            id=f"dlg{dialogue}-t{turn}", tools=[TOOL, OTHER], context=context,
            label_calls=[ToolCall(name="add", arguments={"a": dialogue, "b": turn})],
            lineage=Lineage(origin=OriginKind.SEED, dialogue_id=f"dlg{dialogue}")))
    return samples


def imported_line(line: int) -> list[Sample]:
    return [Sample(id=f"imp-L{line}-t{turn}", tools=[TOOL],
                   context=[Message(role=Role.USER, content=f"line {line} turn {turn}")],
                   label_text="ok",
                   lineage=Lineage(origin=OriginKind.IMPORTED, source_item=f"data.jsonl:{line}"))
            for turn in range(2)]


@pytest.fixture
def mixed(curated_samples: list[Sample]) -> list[Sample]:
    samples = list(curated_samples)
    for number in range(30):
        samples.extend(dialogue_turns(number))
    for line in range(1, 21):
        samples.extend(imported_line(line))
    return samples


def test_no_source_item_on_both_sides(mixed: list[Sample]) -> None:
    split = split_heldout(mixed, 0.2, seed=3)
    train_items = {source_item(sample) for sample in split.train}
    held_items = {source_item(sample) for sample in split.heldout}
    assert train_items and held_items and not train_items & held_items
    assert len(split.train) + len(split.heldout) == len(mixed)
    # a dialogue's turns and a template's instances stay together
    assert {source_item(s) for s in split.heldout if s.lineage.dialogue_id} <= {f"dlg{n}" for n in range(30)}
    held_templates = {curated_origin(s).template_id for s in split.heldout if curated_origin(s)}
    assert all(curated_origin(s).template_id not in held_templates
               for s in split.train if curated_origin(s))


def test_each_source_and_category_is_represented(mixed: list[Sample]) -> None:
    split = split_heldout(mixed, 0.2, seed=0)
    kinds = {sample.lineage.origin for sample in split.heldout}
    assert {OriginKind.SEED, OriginKind.IMPORTED} <= kinds
    categories = {curated_origin(s).category for s in split.heldout if curated_origin(s)}
    assert len(categories) == 6
    held_items = {source_item(sample) for sample in split.heldout}
    assert len([item for item in held_items if item.startswith("dlg")]) == 6  # 0.2 x 30


def test_split_is_seeded_and_independent_of_input_order(mixed: list[Sample]) -> None:
    first = split_heldout(mixed, 0.1, seed=5)
    shuffled = list(mixed)
    random.Random(1).shuffle(shuffled)
    again = split_heldout(shuffled, 0.1, seed=5)
    assert {s.id for s in first.heldout} == {s.id for s in again.heldout}
    other = split_heldout(mixed, 0.1, seed=6)
    assert {s.id for s in first.heldout} != {s.id for s in other.heldout}


def test_fraction_zero_holds_nothing_and_bad_fractions_fail(mixed: list[Sample]) -> None:
    assert split_heldout(mixed, 0.0, seed=0).heldout == []
    with pytest.raises(ValueError, match="fraction"):
        split_heldout(mixed, 1.0, seed=0)


def call_sample(sample_id: str, text: str, calls: list[ToolCall]) -> Sample:
    return Sample(id=sample_id, tools=[TOOL, OTHER], context=[Message(role=Role.USER, content=text)],
                  label_calls=calls)


def test_dedup_key_normalizes_text_and_calls() -> None:
    one = call_sample("a", "Add 1 and 2, please!", [
        ToolCall(name="add", arguments={"a": 1, "b": 2}), ToolCall(name="mul", arguments={"b": 3, "a": 4})])
    same = call_sample("b", "  add 1 AND 2 please ", [
        ToolCall(name="mul", arguments={"a": 4.0, "b": 3}), ToolCall(name="add", arguments={"b": 2, "a": 1})])
    other_args = call_sample("c", "Add 1 and 2, please!", [
        ToolCall(name="add", arguments={"a": 1, "b": 3}), ToolCall(name="mul", arguments={"b": 3, "a": 4})])
    other_text = call_sample("d", "Add 1 and 20, please!", one.label_calls)
    assert dedup_key(one) == dedup_key(same)
    assert dedup_key(one) != dedup_key(other_args)
    assert dedup_key(one) != dedup_key(other_text)
    reply = Sample(id="e", tools=[TOOL], context=one.context, label_text="Which numbers?")
    assert dedup_key(reply) != dedup_key(one) and dedup_key(reply).endswith("<text reply>")


def test_drop_heldout_duplicates_removes_the_repeat_only() -> None:
    held = call_sample("h", "Add 5 and 6", [ToolCall(name="add", arguments={"a": 5, "b": 6})])
    repeat = call_sample("r", "add 5 and 6.", [ToolCall(name="add", arguments={"a": 5.0, "b": 6})])
    fresh = call_sample("f", "Add 5 and 7", [ToolCall(name="add", arguments={"a": 5, "b": 7})])
    result = drop_heldout_duplicates([repeat, fresh], [held])
    assert [s.id for s in result.kept] == ["f"] and [s.id for s in result.dropped] == ["r"]


def test_dedup_key_ignores_demonstrations(curated_samples: list[Sample]) -> None:
    [with_demo] = with_demonstrations(curated_samples[:1], 1, random.Random(0), pool=curated_samples)
    assert len(with_demo.context) > len(curated_samples[0].context)
    assert dedup_key(with_demo) == dedup_key(curated_samples[0])
