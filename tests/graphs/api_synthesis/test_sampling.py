"""Seeded sampling of tree paths and their merge into a generation request."""

from __future__ import annotations

from collections import Counter

import pytest

from looptool.graphs.api_synthesis.sampling import (
    constraint_path,
    context_leaf,
    count_range,
    is_feasible,
    merge_request,
    sample_id,
)
from looptool.graphs.api_synthesis.trees import DIMENSIONS, load_constraint_tree, load_context_tree

CONTEXT = load_context_tree()
CONSTRAINTS = load_constraint_tree()


def test_sampling_is_deterministic_and_order_independent() -> None:
    forward = [(context_leaf(CONTEXT, 7, i), constraint_path(CONSTRAINTS, 7, i)) for i in range(40)]
    backward = [(context_leaf(CONTEXT, 7, i), constraint_path(CONSTRAINTS, 7, i)) for i in reversed(range(40))]
    assert forward == list(reversed(backward))
    other_seed = [(context_leaf(CONTEXT, 8, i), constraint_path(CONSTRAINTS, 8, i)) for i in range(40)]
    assert forward != other_seed


def test_context_leaves_cover_every_intent_before_repeating() -> None:
    leaves = CONTEXT.leaves()
    first_cycle = [context_leaf(CONTEXT, 3, i).label() for i in range(len(leaves))]
    assert sorted(first_cycle) == sorted(leaf.label() for leaf in leaves)
    second_cycle = [context_leaf(CONTEXT, 3, i).label() for i in range(len(leaves), 2 * len(leaves))]
    assert sorted(second_cycle) == sorted(first_cycle)
    assert second_cycle != first_cycle  # a fresh permutation per cycle
    domains = {context_leaf(CONTEXT, 3, i).domain for i in range(60)}
    assert len(domains) >= 12  # stratified draws spread over domains early


def test_constraint_paths_cover_every_option_and_follow_weights() -> None:
    paths = [constraint_path(CONSTRAINTS, 0, i) for i in range(1500)]
    for dimension in DIMENSIONS:
        used = Counter(getattr(path, dimension) for path in paths)
        assert set(used) == set(CONSTRAINTS.options(dimension)), dimension
    counts = Counter(path.parameter_count for path in paths)
    assert counts["moderate"] > counts["few"]  # weight 2 vs 1
    assert all(is_feasible(CONSTRAINTS, path) for path in paths)


def test_infeasible_combinations_are_redrawn() -> None:
    tree = CONSTRAINTS.model_copy(deep=True)
    # only one parameter allowed, but half of the mixes need two
    tree.parameter_count = {"one": tree.parameter_count["few"].model_copy(update={"min": 1, "max": 1})}
    paths = [constraint_path(tree, 0, i) for i in range(300)]
    assert {path.required_mix for path in paths} <= {"all_required", "mostly_optional"}
    assert "required_and_optional" not in {path.required_mix for path in paths}
    assert {path.parameter_types for path in paths} <= {"scalars_only", "with_enum", "with_array", "with_nested_object"}


def test_merge_request_carries_both_paths() -> None:
    leaf = context_leaf(CONTEXT, 0, 5)
    path = constraint_path(CONSTRAINTS, 0, 5)
    request = merge_request(leaf, CONSTRAINTS, path, index=5, min_description_chars=20)
    assert request.sample_id == sample_id(5) == "api-000005"
    assert [request.domain, request.subdomain, request.intent] == leaf.path
    assert request.naming.convention == path.naming_convention
    assert request.naming.function_pattern == CONSTRAINTS.naming_convention[path.naming_convention].function_pattern
    band = count_range(CONSTRAINTS, path)
    assert (request.parameters.min_count, request.parameters.max_count) == (band.start, band.stop - 1)
    assert request.parameters.must_include == CONSTRAINTS.parameter_types[path.parameter_types].must_include
    assert request.returns.option == path.return_format
    assert request.min_description_chars == 20


def test_count_range_narrows_band_to_the_mix() -> None:
    path = constraint_path(CONSTRAINTS, 0, 0).model_copy(
        update={"parameter_count": "few", "required_mix": "required_and_optional"}
    )
    assert list(count_range(CONSTRAINTS, path)) == [2]


def test_negative_index_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        context_leaf(CONTEXT, 0, -1)
