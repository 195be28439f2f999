"""Demonstrations: K earlier exchanges from other templates of the same tools."""

from __future__ import annotations

import random

import pytest

from looptool.loop.seed import (
    check_curated_sample,
    curated_origin,
    demonstration_info,
    with_demonstrations,
)
from looptool.schema import Message, Role, Sample


@pytest.fixture(scope="module")
def with_one(curated_samples: list[Sample]) -> list[Sample]:
    return with_demonstrations(curated_samples, 1, random.Random(0))


def test_demos_never_come_from_the_samples_own_template(
    curated_samples: list[Sample], with_one: list[Sample]
) -> None:
    by_id = {sample.id: sample for sample in curated_samples}
    with_demos = [sample for sample in with_one if demonstration_info(sample)]
    assert len(with_demos) > 0.9 * len(with_one)
    for sample in with_demos:
        for source_id in demonstration_info(sample).sources:
            source = by_id[source_id]
            assert curated_origin(source).template_id != curated_origin(sample).template_id
            assert curated_origin(source).tool_set == curated_origin(sample).tool_set


def test_demo_is_user_turn_then_the_correct_call_then_results_then_an_answer(
    curated_samples: list[Sample], with_one: list[Sample]
) -> None:
    by_id = {sample.id: sample for sample in curated_samples}
    sample = next(item for item in with_one
                  if curated_origin(item).tool_set == "calculator" and demonstration_info(item))
    info = demonstration_info(sample)
    source = by_id[info.sources[0]]
    user, call, *results, answer = sample.context[:info.messages]
    assert user.role == Role.USER and user.content == source.context[-1].content
    assert [(c.name, c.arguments) for c in call.tool_calls] == \
        [(c.name, c.arguments) for c in source.label_calls]
    assert len(results) == len(source.label_calls)
    assert all(result.role == Role.TOOL and '"result"' in result.content for result in results)
    assert answer.role == Role.ASSISTANT and not answer.tool_calls
    assert all(result.content in answer.content for result in results)
    assert sample.context[info.messages:] == by_id[sample.id].context


def test_demo_calls_only_offered_tools_with_the_same_spec(with_one: list[Sample]) -> None:
    for sample in with_one:
        info = demonstration_info(sample)
        if info is None:
            continue
        for message in sample.context[:info.messages]:
            for call in message.tool_calls:
                assert sample.tool(call.name) is not None, (sample.id, call.name)


def test_samples_with_demos_still_check_out(with_one: list[Sample]) -> None:
    for sample in with_one:
        assert check_curated_sample(sample).ok, sample.id


def test_k_two_gives_two_demos_from_two_templates(curated_samples: list[Sample]) -> None:
    by_id = {sample.id: sample for sample in curated_samples}
    result = with_demonstrations(curated_samples, 2, random.Random(1))
    two = [sample for sample in result if len(demonstration_info(sample).sources) == 2]
    assert len(two) > len(result) // 2
    distinct = 0
    for sample in two:
        templates = {curated_origin(by_id[item]).template_id for item in demonstration_info(sample).sources}
        assert curated_origin(sample).template_id not in templates
        distinct += len(templates) == 2
    # two templates whenever two fit (a few tools have one other template only)
    assert distinct > 0.8 * len(two)


def test_k_zero_changes_nothing_and_rng_makes_it_deterministic(curated_samples: list[Sample]) -> None:
    assert with_demonstrations(curated_samples, 0, random.Random(0)) == curated_samples
    first = with_demonstrations(curated_samples[:60], 1, random.Random(5))
    again = with_demonstrations(curated_samples[:60], 1, random.Random(5))
    assert first == again


def test_system_message_stays_first(curated_samples: list[Sample]) -> None:
    target = next(sample for sample in curated_samples
                  if curated_origin(sample).template_id == "calculator.single.multiply")
    with_system = target.model_copy(update={"context": [
        Message(role=Role.SYSTEM, content="You are terse."), *target.context]})
    [result] = with_demonstrations([with_system], 1, random.Random(0), pool=curated_samples)
    assert result.context[0].content == "You are terse."
    assert result.context[1].role == Role.USER and result.context[-1] == target.context[-1]
    assert check_curated_sample(result).ok


def test_pool_without_fitting_samples_leaves_the_sample_alone(curated_samples: list[Sample]) -> None:
    target = curated_samples[0]
    same_template = [s for s in curated_samples
                     if curated_origin(s).template_id == curated_origin(target).template_id]
    assert with_demonstrations([target], 1, random.Random(0), pool=same_template) == [target]
