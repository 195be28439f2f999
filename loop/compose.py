"""Composition of the next iteration's training set (a pure function).

``D_{j+1} = D^ES ∪ D^EE ∪ D^HPPL ∪ fresh seed``, under a fixed size budget, as in the
paper: the error seeds (prediction-wrong and relabeled samples) come first, then their
expansions, then the mastered-but-high-perplexity samples; fresh, never-used seed samples
fill what remains. No sample id appears twice. When the loop's own parts exceed the budget
they are cut in that priority order and the cut is counted.

The same function composes the episode set ``E_{j+1}`` (``loop.episodes``): anything with an
``id`` composes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


ItemT = TypeVar("ItemT", bound=_HasId)

PARTS = ("error_seeds", "expansions", "high_ppl", "fresh")


class CompositionCounts(BaseModel):
    """How many samples of each part entered ``D_{j+1}`` (and how many were cut or skipped)."""

    budget: int
    error_seeds: int = 0
    expansions: int = 0
    high_ppl: int = 0
    fresh: int = 0
    cut_over_budget: int = 0
    duplicate_ids: int = 0
    fresh_left: int = 0

    @property
    def total(self) -> int:
        return self.error_seeds + self.expansions + self.high_ppl + self.fresh


@dataclass(frozen=True)
class Composition(Generic[ItemT]):
    """The composed training set, the fresh samples it used, and its counts."""

    samples: list[ItemT]
    counts: CompositionCounts
    used_fresh_ids: list[str] = field(default_factory=list)


def compose_next(
    *,
    budget: int,
    error_seeds: Sequence[ItemT] = (),
    expansions: Sequence[ItemT] = (),
    high_ppl: Sequence[ItemT] = (),
    fresh_pool: Sequence[ItemT] = (),
    fresh_limit: int | None = None,
) -> Composition[ItemT]:
    """Compose ``D_{j+1}``; ``fresh_pool`` is taken in order, at most ``fresh_limit`` of it.

    ``fresh_limit`` (``None``: no limit beyond the budget) lets a recipe shrink the fresh share
    round by round (the paper halves it).
    """
    if budget < 1:
        raise ValueError(f"composition budget must be at least 1, got {budget}")
    if fresh_limit is not None and fresh_limit < 0:
        raise ValueError(f"fresh_limit must be >= 0, got {fresh_limit}")
    counts = CompositionCounts(budget=budget)
    chosen: list[ItemT] = []
    seen: set[str] = set()

    def take(part: str, samples: Sequence[ItemT], limit: int | None = None) -> list[str]:
        taken: list[str] = []
        for sample in samples:
            if sample.id in seen:
                counts.duplicate_ids += 1
                continue
            if len(chosen) >= budget or (limit is not None and len(taken) >= limit):
                if part != "fresh":
                    counts.cut_over_budget += 1
                continue
            seen.add(sample.id)
            chosen.append(sample)
            taken.append(sample.id)
        setattr(counts, part, len(taken))
        return taken

    take("error_seeds", error_seeds)
    take("expansions", expansions)
    take("high_ppl", high_ppl)
    used_fresh = take("fresh", fresh_pool, fresh_limit)
    counts.fresh_left = sum(1 for sample in fresh_pool if sample.id not in seen)
    return Composition(samples=chosen, counts=counts, used_fresh_ids=used_fresh)


def compose_static(*, budget: int, pool: Sequence[ItemT], iteration: int) -> Composition[ItemT]:
    """The static baseline's training set for ``iteration`` (1-based): seed data only.

    Same budget as the loop; it walks through the seed pool (wrapping around) so every
    iteration trains on ``budget`` seed samples, as a static pipeline trained for the same
    number of steps would.
    """
    if budget < 1:
        raise ValueError(f"composition budget must be at least 1, got {budget}")
    if not pool:
        raise ValueError("the static baseline needs a non-empty seed pool")
    start = ((iteration - 1) * budget) % len(pool)
    window = [pool[(start + offset) % len(pool)] for offset in range(min(budget, len(pool)))]
    return compose_next(budget=budget, fresh_pool=window)
