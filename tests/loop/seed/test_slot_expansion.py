"""The slots generator for EDDE: new, executable, distinct variants with lineage."""

from __future__ import annotations

import random

import pytest

from looptool.loop.seed import (
    NotExpandableError,
    can_expand_by_slots,
    check_curated_sample,
    curated_origin,
    dedup_key,
    demonstration_info,
    expand_by_slots,
    with_demonstrations,
)
from looptool.schema import Message, Role, Sample


def seed_of(samples: list[Sample], template_id: str) -> Sample:
    return next(sample for sample in samples if curated_origin(sample).template_id == template_id)


@pytest.mark.parametrize("template_id", [
    "filesystem.multi_turn.folder_then_file",
    "calendar.multi_turn.move_event",
    "calculator.parallel.mixed",
    "travel.multiple.search_flights",
    "calendar.missing.event_time",
])
def test_variants_are_new_executable_and_distinct(curated_samples: list[Sample], template_id: str) -> None:
    seed = seed_of(curated_samples, template_id)
    variants = expand_by_slots(seed, 4, random.Random(7), iteration=2)
    assert len(variants) == 4
    keys = {dedup_key(seed)} | {dedup_key(variant) for variant in variants}
    assert len(keys) == 5
    assert len({variant.id for variant in variants}) == 4
    for variant in variants:
        assert check_curated_sample(variant).ok, variant.id
        assert curated_origin(variant).slots != curated_origin(seed).slots
        assert curated_origin(variant).template_id == template_id
        lineage = variant.lineage
        assert lineage.origin == "expanded" and lineage.parent_id == seed.id
        assert lineage.iteration == 2 and lineage.stage == "edde"
        assert lineage.source_item == seed.lineage.source_item
        assert variant.id.startswith(seed.id + "-x")


def test_avoid_and_exhausted_pools_give_fewer_never_duplicates(curated_samples: list[Sample]) -> None:
    # four pool entries: three seeds take three, one is left
    seeds = [sample for sample in curated_samples
             if curated_origin(sample).template_id == "calendar.multiple.list_todos_by_status"]
    variants = expand_by_slots(seeds[0], 5, random.Random(0), avoid=seeds)
    assert len(variants) == 1
    taken = {dedup_key(sample) for sample in seeds}
    assert dedup_key(variants[0]) not in taken


def test_the_same_rng_gives_the_same_variants(curated_samples: list[Sample]) -> None:
    seed = seed_of(curated_samples, "calculator.single.sqrt")
    assert expand_by_slots(seed, 3, random.Random(3)) == expand_by_slots(seed, 3, random.Random(3))


def test_demonstrations_of_the_seed_are_kept(curated_samples: list[Sample]) -> None:
    seed = seed_of(curated_samples, "calculator.single.multiply")
    [with_demo] = with_demonstrations([seed], 1, random.Random(0), pool=curated_samples)
    info = demonstration_info(with_demo)
    variants = expand_by_slots(with_demo, 2, random.Random(1))
    for variant in variants:
        assert demonstration_info(variant) == info
        assert variant.context[:info.messages] == with_demo.context[:info.messages]
        assert check_curated_sample(variant).ok


def test_samples_without_a_template_are_refused_clearly() -> None:
    plain = Sample(id="dlg-1-t0", tools=[], context=[Message(role=Role.USER, content="hi")],
                   label_text="hello")
    assert not can_expand_by_slots(plain)
    with pytest.raises(NotExpandableError, match="dlg-1-t0.*metadata\\['curated'\\]"):
        expand_by_slots(plain, 2, random.Random(0))
    gone = plain.model_copy(update={"metadata": {"curated": {
        "template_id": "no.such.template", "tool_set": "calculator", "category": "single"}}})
    assert not can_expand_by_slots(gone)
    with pytest.raises(NotExpandableError, match="no.such.template"):
        expand_by_slots(gone, 2, random.Random(0))


def test_zero_variants_asked_gives_none(curated_samples: list[Sample]) -> None:
    assert expand_by_slots(curated_samples[0], 0, random.Random(0)) == []
