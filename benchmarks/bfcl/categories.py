"""BFCL-v3 categories and the leaderboard's aggregation (``eval_runner_helper`` of
``bfcl-eval==2025.8.6.2``):

* non-live = unweighted mean of simple (itself the mean of python ``simple``, ``java``,
  ``javascript``), ``multiple``, ``parallel``, ``parallel_multiple``, ``irrelevance``;
* live = entry-weighted mean of the six live categories;
* multi-turn = unweighted mean of the four multi-turn categories;
* overall = unweighted mean of non-live, live and multi-turn.

A group is reported only when all of its categories were evaluated (the leaderboard counts a
missing category as 0, which would make a partial run look like a bad model).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from looptool.benchmarks.base import BenchmarkSummary, EntryScore, SummaryRow

SIMPLE = ["simple", "java", "javascript"]
NON_LIVE = [*SIMPLE, "multiple", "parallel", "parallel_multiple", "irrelevance"]
LIVE = [
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_irrelevance",
    "live_relevance",
]
MULTI_TURN = ["multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context"]
ALL = [*NON_LIVE, *LIVE, *MULTI_TURN]

ALIASES: dict[str, list[str]] = {
    "non_live": NON_LIVE,
    "simple_all": SIMPLE,
    "python": ["simple", "multiple", "parallel", "parallel_multiple", "irrelevance"],
    "live": LIVE,
    "multi_turn": MULTI_TURN,
    "single_turn": [*NON_LIVE, *LIVE],
    "ast": ["simple", "java", "javascript", "multiple", "parallel", "parallel_multiple",
            "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple"],
}


def is_multi_turn(category: str) -> bool:
    return category.startswith("multi_turn")


@dataclass(frozen=True)
class _Score:
    value: float
    count: int


def summarize_scores(benchmark: str, scores: Sequence[EntryScore]) -> BenchmarkSummary:
    """The leaderboard layout: overall, then each group followed by its categories."""
    totals: dict[str, list[float]] = defaultdict(list)
    for score in scores:
        totals[score.category].append(score.score)
    per_category = {
        name: _Score(sum(values) / len(values), len(values)) for name, values in totals.items() if values
    }

    def mean(parts: list[_Score]) -> _Score:
        return _Score(sum(p.value for p in parts) / len(parts), sum(p.count for p in parts))

    def weighted(parts: list[_Score]) -> _Score:
        count = sum(p.count for p in parts)
        return _Score(sum(p.value * p.count for p in parts) / count, count)

    def complete(names: list[str]) -> bool:
        return all(name in per_category for name in names)

    groups: dict[str, _Score] = {}
    if complete(SIMPLE):
        groups["non_live_simple"] = mean([per_category[name] for name in SIMPLE])
    if complete(NON_LIVE):
        groups["non_live"] = mean(
            [groups["non_live_simple"], *(per_category[name] for name in NON_LIVE[3:])]
        )
    if complete(LIVE):
        groups["live"] = weighted([per_category[name] for name in LIVE])
    if complete(MULTI_TURN):
        groups["multi_turn"] = mean([per_category[name] for name in MULTI_TURN])

    rows: list[SummaryRow] = []
    if all(name in groups for name in ("non_live", "live", "multi_turn")):
        overall = mean([groups["non_live"], groups["live"], groups["multi_turn"]])
        rows.append(SummaryRow(name="overall", kind="overall", score=overall.value, count=overall.count))

    def add_group(name: str, parent: str | None) -> None:
        if name in groups:
            rows.append(
                SummaryRow(name=name, kind="group", score=groups[name].value, count=groups[name].count, parent=parent)
            )

    def add_categories(names: list[str], parent: str) -> None:
        for name in names:
            if name in per_category:
                item = per_category[name]
                rows.append(SummaryRow(name=name, kind="category", score=item.value, count=item.count, parent=parent))

    add_group("non_live", "overall")
    add_group("non_live_simple", "non_live")
    add_categories(SIMPLE, "non_live_simple")
    add_categories(NON_LIVE[3:], "non_live")
    add_group("live", "overall")
    add_categories(LIVE, "live")
    add_group("multi_turn", "overall")
    add_categories(MULTI_TURN, "multi_turn")
    return BenchmarkSummary(benchmark=benchmark, rows=rows)
