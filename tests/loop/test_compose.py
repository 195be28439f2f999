"""Composition of D_{j+1}: priority, budget, no id twice, fresh fill, static baseline."""

from __future__ import annotations

import pytest

from looptool.loop.compose import compose_next, compose_static
from looptool.schema import Sample, ToolCall, ToolSpec

TOOL = ToolSpec(name="f", parameters={"type": "object", "properties": {"x": {"type": "integer"}}})


def sample(sample_id: str) -> Sample:
    return Sample(id=sample_id, tools=[TOOL], context=[], label_calls=[ToolCall(name="f", arguments={"x": 1})])


def ids(prefix: str, count: int) -> list[Sample]:
    return [sample(f"{prefix}{index}") for index in range(count)]


def test_parts_in_priority_order_and_fresh_fills_the_rest() -> None:
    result = compose_next(budget=10, error_seeds=ids("es", 2), expansions=ids("ee", 3), high_ppl=ids("hp", 1),
                          fresh_pool=ids("fr", 8))
    assert [s.id for s in result.samples] == ["es0", "es1", "ee0", "ee1", "ee2", "hp0", "fr0", "fr1", "fr2", "fr3"]
    counts = result.counts
    assert (counts.error_seeds, counts.expansions, counts.high_ppl, counts.fresh) == (2, 3, 1, 4)
    assert counts.total == 10 and counts.fresh_left == 4 and counts.cut_over_budget == 0
    assert result.used_fresh_ids == ["fr0", "fr1", "fr2", "fr3"]


def test_over_budget_cuts_lowest_priority_first_and_counts_it() -> None:
    result = compose_next(budget=4, error_seeds=ids("es", 2), expansions=ids("ee", 3), high_ppl=ids("hp", 2))
    assert [s.id for s in result.samples] == ["es0", "es1", "ee0", "ee1"]
    assert result.counts.cut_over_budget == 3 and result.counts.fresh == 0


def test_no_sample_id_twice() -> None:
    shared = sample("same")
    result = compose_next(budget=10, error_seeds=[shared], high_ppl=[shared, sample("hp")],
                          fresh_pool=[shared, sample("fr")])
    assert [s.id for s in result.samples] == ["same", "hp", "fr"]
    assert result.counts.duplicate_ids == 2


def test_fresh_limit_shrinks_the_fresh_share() -> None:
    result = compose_next(budget=10, error_seeds=ids("es", 1), fresh_pool=ids("fr", 9), fresh_limit=3)
    assert result.counts.fresh == 3 and len(result.samples) == 4 and result.counts.fresh_left == 6


def test_bad_budget_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="budget"):
        compose_next(budget=0)
    with pytest.raises(ValueError, match="fresh_limit"):
        compose_next(budget=1, fresh_limit=-1)


def test_static_walks_the_pool_with_the_same_budget() -> None:
    pool = ids("s", 5)
    first = compose_static(budget=3, pool=pool, iteration=1)
    second = compose_static(budget=3, pool=pool, iteration=2)
    assert [s.id for s in first.samples] == ["s0", "s1", "s2"]
    assert [s.id for s in second.samples] == ["s3", "s4", "s0"]
    assert second.counts.fresh == 3 and second.counts.error_seeds == 0
    with pytest.raises(ValueError, match="non-empty"):
        compose_static(budget=3, pool=[], iteration=1)
