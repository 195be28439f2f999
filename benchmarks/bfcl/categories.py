"""BFCL-v3 categories and the leaderboard's aggregation (``eval_runner_helper`` of
``bfcl-eval==2025.8.6.2``, ``generate_leaderboard_csv``):

* non-live overall = unweighted mean of simple (itself the mean of python ``simple``,
  ``java``, ``javascript``), ``multiple``, ``parallel``, ``parallel_multiple``, ``irrelevance``;
* non-live AST ("Non-Live AST Acc", the paper's "Non-Live") = the same without irrelevance;
* live = entry-weighted mean of the six live categories; live AST = of the four call ones;
* multi-turn = unweighted mean of the four multi-turn categories;
* overall = unweighted mean of non-live overall, live and multi-turn;
* relevance detection = ``live_relevance``; irrelevance detection = unweighted mean of
  ``irrelevance`` and ``live_irrelevance``.

The headline rows are the leaderboard's overall columns: Overall Acc, Non-Live AST Acc, Live
Acc, Multi Turn Acc, Relevance Detection, Irrelevance Detection. A group is reported only when
all of its categories were evaluated (the leaderboard counts a missing category as 0, which
would make a partial run look like a bad model).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from looptool.benchmarks.base import BenchmarkSummary, EntryScore, SummaryRow

SIMPLE = ["simple", "java", "javascript"]
NON_LIVE_AST = [*SIMPLE, "multiple", "parallel", "parallel_multiple"]
NON_LIVE = [*NON_LIVE_AST, "irrelevance"]
LIVE = [
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_irrelevance",
    "live_relevance",
]
LIVE_AST = LIVE[:4]
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


HEADLINE: dict[str, str] = {
    "overall": "Overall Acc",
    "non_live_ast": "Non-Live AST Acc",
    "live": "Live Acc",
    "multi_turn": "Multi Turn Acc",
    "relevance_detection": "Relevance Detection",
    "irrelevance_detection": "Irrelevance Detection",
}
"""The leaderboard's overall columns (``COLUMNS_OVERALL``), by our row name."""

LABELS: dict[str, str] = {
    **HEADLINE,
    "non_live": "Non-Live Overall Acc",
    "non_live_simple": "Non-Live Simple AST",
    "live_ast": "Live AST Acc",
}


def summarize_scores(benchmark: str, scores: Sequence[EntryScore]) -> BenchmarkSummary:
    """The leaderboard layout: the headline columns, then each group followed by its categories."""
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
    if complete(NON_LIVE_AST):
        groups["non_live_ast"] = mean([groups["non_live_simple"], *(per_category[name] for name in NON_LIVE_AST[3:])])
    if complete(NON_LIVE):
        groups["non_live"] = mean(
            [groups["non_live_simple"], *(per_category[name] for name in NON_LIVE[3:])]
        )
    if complete(LIVE_AST):
        groups["live_ast"] = weighted([per_category[name] for name in LIVE_AST])
    if complete(LIVE):
        groups["live"] = weighted([per_category[name] for name in LIVE])
    if complete(MULTI_TURN):
        groups["multi_turn"] = mean([per_category[name] for name in MULTI_TURN])
    if complete(["live_relevance"]):
        groups["relevance_detection"] = per_category["live_relevance"]
    if complete(["irrelevance", "live_irrelevance"]):
        groups["irrelevance_detection"] = mean([per_category["irrelevance"], per_category["live_irrelevance"]])

    rows: list[SummaryRow] = []
    if all(name in groups for name in ("non_live", "live", "multi_turn")):
        overall = mean([groups["non_live"], groups["live"], groups["multi_turn"]])
        rows.append(
            SummaryRow(
                name="overall", kind="overall", score=overall.value, count=overall.count,
                label=LABELS["overall"], headline=True,
            )
        )

    def add_group(name: str, parent: str | None) -> None:
        if name in groups:
            rows.append(
                SummaryRow(
                    name=name, kind="group", score=groups[name].value, count=groups[name].count, parent=parent,
                    label=LABELS.get(name, ""), headline=name in HEADLINE,
                )
            )

    def add_categories(names: list[str], parent: str) -> None:
        for name in names:
            if name in per_category:
                item = per_category[name]
                rows.append(SummaryRow(name=name, kind="category", score=item.value, count=item.count, parent=parent))

    for name in ("non_live_ast", "live", "multi_turn", "relevance_detection", "irrelevance_detection"):
        add_group(name, "overall")
    add_group("non_live", "overall")
    add_group("non_live_simple", "non_live")
    add_categories(SIMPLE, "non_live_simple")
    add_categories(NON_LIVE[3:], "non_live")
    add_group("live_ast", "live")
    add_categories(LIVE, "live")
    add_categories(MULTI_TURN, "multi_turn")
    return BenchmarkSummary(benchmark=benchmark, rows=rows)
