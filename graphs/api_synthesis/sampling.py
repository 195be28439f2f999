"""Seeded sampling of one leaf path from each tree, and their merge into an ApiRequest.

Sampling depends only on ``(seed, index)``, never on the order in which requests run, so a
resumed or concurrent run draws exactly what a sequential run would.

* Context leaves are drawn *stratified*: request ``index`` takes position ``index % L`` of a
  seeded permutation of all ``L`` leaves (a fresh permutation per cycle of ``L``), so every
  intent is used once before any repeats.
* A constraint path draws one option per dimension by weight; combinations that cannot be
  satisfied together (a count band no required/optional split or feature list fits) are
  re-drawn with the same seeded generator.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict

from looptool.agents.api_generator import (
    ApiRequest,
    NamingRequirement,
    ParameterRequirement,
    ReturnRequirement,
)
from looptool.graphs.api_synthesis.trees import (
    DIMENSIONS,
    ConstraintTree,
    ContextLeaf,
    ContextTree,
    Option,
)

MAX_DRAWS = 200


class SamplingError(ValueError):
    """The trees admit no sample (e.g. no satisfiable constraint combination)."""


class ConstraintPath(BaseModel):
    """One option name per constraint dimension."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    naming_convention: str
    parameter_count: str
    parameter_types: str
    required_mix: str
    return_format: str

    def as_list(self) -> list[str]:
        return [f"{dimension}={getattr(self, dimension)}" for dimension in DIMENSIONS]


def sample_id(index: int) -> str:
    """The stable id of request ``index`` (trace id and provenance key)."""
    return f"api-{index:06d}"


def context_leaf(tree: ContextTree, seed: int, index: int) -> ContextLeaf:
    """The context leaf of request ``index`` (stratified, seeded)."""
    if index < 0:
        raise SamplingError(f"request index must be >= 0, got {index}")
    leaves = tree.leaves()
    cycle, position = divmod(index, len(leaves))
    order = list(range(len(leaves)))
    random.Random(f"context:{seed}:{cycle}").shuffle(order)
    return leaves[order[position]]


def _pick(rng: random.Random, options: dict[str, Option]) -> str:
    names = list(options)
    weights = [options[name].weight for name in names]
    return rng.choices(names, weights=weights, k=1)[0]


def count_range(tree: ConstraintTree, path: ConstraintPath) -> range:
    """Parameter counts that satisfy the path's count band and required/optional mix."""
    band = tree.parameter_count[path.parameter_count]
    mix = tree.required_mix[path.required_mix]
    counts = [count for count in range(band.min, band.max + 1) if mix.admits(count)]
    if not counts:
        return range(0)
    return range(min(counts), max(counts) + 1)


def is_feasible(tree: ConstraintTree, path: ConstraintPath) -> bool:
    """Whether some API can satisfy every option of ``path`` at once."""
    counts = count_range(tree, path)
    if len(counts) == 0:
        return False
    features = tree.parameter_types[path.parameter_types].must_include
    # each required structure needs at least one parameter of its own at the top level,
    # except that an enum may sit inside an object or array parameter
    structural = sum(1 for feature in features if feature in ("array", "object"))
    return counts.stop - 1 >= max(1, structural)


def constraint_path(tree: ConstraintTree, seed: int, index: int) -> ConstraintPath:
    """The constraint path of request ``index`` (weighted, seeded, feasible)."""
    rng = random.Random(f"constraints:{seed}:{index}")
    for _ in range(MAX_DRAWS):
        path = ConstraintPath(**{dimension: _pick(rng, tree.options(dimension)) for dimension in DIMENSIONS})
        if is_feasible(tree, path):
            return path
    raise SamplingError(
        f"no feasible constraint combination found in {MAX_DRAWS} draws; check that the "
        "parameter_count bands fit the required_mix and parameter_types options"
    )


def merge_request(
    leaf: ContextLeaf,
    tree: ConstraintTree,
    path: ConstraintPath,
    *,
    index: int,
    min_description_chars: int = 12,
    min_function_name_words: int = 2,
) -> ApiRequest:
    """Merge a context leaf and a constraint path into one generation request."""
    naming = tree.naming_convention[path.naming_convention]
    types = tree.parameter_types[path.parameter_types]
    mix = tree.required_mix[path.required_mix]
    returns = tree.return_format[path.return_format]
    counts = count_range(tree, path)
    return ApiRequest(
        sample_id=sample_id(index),
        domain=leaf.domain,
        subdomain=leaf.subdomain,
        intent=leaf.intent,
        intent_description=leaf.description,
        naming=NamingRequirement(
            convention=path.naming_convention,
            description=naming.description,
            function_pattern=naming.function_pattern,
            parameter_pattern=naming.parameter_pattern,
            example_function=naming.example_function,
            example_parameter=naming.example_parameter,
        ),
        parameters=ParameterRequirement(
            min_count=counts.start,
            max_count=counts.stop - 1,
            types_option=path.parameter_types,
            types_description=types.description,
            allowed_types=list(types.allowed_types),
            must_include=list(types.must_include),
            required_option=path.required_mix,
            required_description=mix.description,
            min_required=mix.min_required,
            max_required=mix.max_required,
            min_optional=mix.min_optional,
            max_optional=mix.max_optional,
        ),
        returns=ReturnRequirement(
            option=path.return_format,
            description=returns.description,
            types=returns.types,
            items_type=returns.items_type,
            min_properties=returns.min_properties,
            required_properties=list(returns.required_properties),
        ),
        min_description_chars=min_description_chars,
        min_function_name_words=min_function_name_words,
    )
