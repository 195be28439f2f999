"""The shipped curated seed set: valid, executed, covering every category, deterministic."""

from __future__ import annotations

from collections import Counter

import pytest

from looptool.loop.seed import (
    CATEGORIES,
    check_curated_sample,
    curated_origin,
    expand_curated,
    load_catalog,
)
from looptool.schema import Role, Sample


def test_size_is_a_few_hundred(curated_samples: list[Sample]) -> None:
    assert 300 <= len(curated_samples) <= 400


def test_every_template_gives_all_its_instances(curated) -> None:
    catalog = load_catalog()
    assert curated.shortfalls == []
    made = Counter(curated_origin(sample).template_id for sample in curated.samples)
    assert made == {template_id: bound.instances for template_id, bound in catalog.templates.items()}


def test_every_sample_validates_and_its_calls_execute(curated_samples: list[Sample]) -> None:
    for sample in curated_samples:
        assert Sample.model_validate_json(sample.model_dump_json()) == sample
        check = check_curated_sample(sample)
        assert check.ok, (sample.id, check.problems)
        assert len(check.label_results) == len(sample.label_calls)


def test_executable_labels_really_ran(curated_samples: list[Sample]) -> None:
    executed = [sample for sample in curated_samples
                if curated_origin(sample).tool_set in ("calculator", "filesystem", "calendar")
                and sample.label_calls]
    assert len(executed) > 150
    for sample in executed:
        for result in check_curated_sample(sample).label_results:
            assert result.ok and result.backend == curated_origin(sample).tool_set


def test_a_broken_label_is_caught_by_execution(curated_samples: list[Sample]) -> None:
    sample = next(item for item in curated_samples
                  if curated_origin(item).template_id == "calendar.multi_turn.cancel_event")
    broken = sample.model_copy(update={"label_calls": [
        sample.label_calls[0].model_copy(update={"arguments": {"event_id": "evt-9"}})]})
    check = check_curated_sample(broken)
    assert not check.ok and "evt-9" in check.problems[0]


def test_category_coverage(curated_samples: list[Sample]) -> None:
    by_category = Counter(curated_origin(sample).category for sample in curated_samples)
    assert set(by_category) == set(CATEGORIES)
    assert all(count >= 30 for count in by_category.values()), by_category
    pairs = {(curated_origin(s).tool_set, curated_origin(s).category) for s in curated_samples}
    for tool_set in ("calculator", "filesystem", "calendar", "travel_tools"):
        for category in CATEGORIES:
            assert (tool_set, category) in pairs, (tool_set, category)


@pytest.mark.parametrize("category", CATEGORIES)
def test_labels_match_their_category(curated_samples: list[Sample], category: str) -> None:
    chosen = [sample for sample in curated_samples if curated_origin(sample).category == category]
    for sample in chosen:
        if category in ("missing_params", "irrelevance"):
            assert sample.label_text and not sample.label_calls
        elif category == "single":
            assert len(sample.label_calls) == 1 and len(sample.tools) == 1
        elif category == "multiple":
            assert len(sample.label_calls) == 1 and len(sample.tools) >= 2
        elif category == "parallel":
            assert len(sample.label_calls) >= 2
        else:
            roles = [message.role for message in sample.context]
            assert Role.ASSISTANT in roles and roles.count(Role.USER) >= 2


def test_multi_turn_context_holds_real_tool_results(curated_samples: list[Sample]) -> None:
    sample = next(item for item in curated_samples
                  if curated_origin(item).template_id == "calendar.multi_turn.move_event")
    tool_messages = [message for message in sample.context if message.role == Role.TOOL]
    assert len(tool_messages) == 1 and '"id": "evt-1"' in tool_messages[0].content
    assert tool_messages[0].tool_call_id == sample.context[1].tool_calls[0].id


def test_lineage_and_metadata_name_template_and_slots(curated_samples: list[Sample]) -> None:
    for sample in curated_samples:
        origin = curated_origin(sample)
        assert sample.lineage.source_item == origin.template_id
        assert sample.lineage.origin == "seed" and sample.id.startswith(origin.template_id + "-")
        assert origin.slots or origin.template_id.endswith("all_units")
    assert len({sample.id for sample in curated_samples}) == len(curated_samples)


def test_slot_values_keep_their_type(curated_samples: list[Sample]) -> None:
    sample = next(item for item in curated_samples
                  if curated_origin(item).template_id == "calculator.single.length")
    value = sample.label_calls[0].arguments["value"]
    assert isinstance(value, int) and value == curated_origin(sample).slots["v"]
    attendees = next(item for item in curated_samples
                     if curated_origin(item).template_id == "calendar.multiple.meeting_with_attendees")
    assert isinstance(attendees.label_calls[0].arguments["attendees"], list)


def test_same_seed_same_samples_other_seed_other_values(curated_samples: list[Sample]) -> None:
    again = expand_curated(seed=0).samples
    assert [sample.id for sample in again] == [sample.id for sample in curated_samples]
    assert again == curated_samples
    other = expand_curated(seed=1).samples
    assert {sample.id for sample in other} != {sample.id for sample in curated_samples}


def test_selection_by_category_and_tool_set() -> None:
    chosen = expand_curated(seed=0, categories=["parallel"], tool_sets=["calendar"], instances=1)
    assert chosen.samples
    assert {curated_origin(s).category for s in chosen.samples} == {"parallel"}
    assert {curated_origin(s).tool_set for s in chosen.samples} == {"calendar"}
    assert len(chosen.samples) == len({curated_origin(s).template_id for s in chosen.samples})
