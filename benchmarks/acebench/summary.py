"""ACEBench's summary (README §6.7): per-category accuracy, the atom / single_turn /
multi_turn / normal / special / agent groups, and ``0.578·normal + 0.2676·special +
0.1545·agent`` per language, for each scoring mode.

``upstream`` rounds every category and every group mean to 3 decimals before weighting, as
upstream does; ``strict`` keeps full precision and normalises the weights (upstream's sum to
1.0001). Groups are only reported when every member category was scored (upstream would count
a missing category as 0). ``overall`` is the **English** summary, the number the paper and
upstream's leaderboard report (for Qwen3-8B 0.578·70.9 + 0.2676·78.0 + 0.1545·34.2 = 67.1);
``zh_summary`` and ``both_summary`` (the mean of the two languages) are reported beside it,
labelled.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from looptool.benchmarks.acebench.categories import (
    AGENT,
    ATOM,
    LANGUAGES,
    MULTI_TURN,
    NORMAL,
    SINGLE_TURN,
    SPECIAL,
    STEMS,
    SUMMARY_WEIGHTS,
    category_name,
)
from looptool.benchmarks.acebench.scoring import MODES
from looptool.benchmarks.base import BenchmarkSummary, EntryScore, SummaryRow

GROUP_MEMBERS: dict[str, tuple[str, ...]] = {
    "atom": ATOM,
    "single_turn": SINGLE_TURN,
    "multi_turn": MULTI_TURN,
    "normal": NORMAL,
    "special": SPECIAL,
    "agent": AGENT,
}
PARENT: dict[str, str] = {
    **{stem: "atom" for stem in ATOM},
    **{stem: "single_turn" for stem in SINGLE_TURN},
    **{stem: "multi_turn" for stem in MULTI_TURN},
    "normal_similar_api": "normal",
    "normal_preference": "normal",
    **{stem: "special" for stem in SPECIAL},
    **{stem: "agent" for stem in AGENT},
}
PROCESS_STEMS = (*MULTI_TURN, *AGENT)
PAPER_LANGUAGE = "en"
"""The LoopTool paper's ACEBench numbers (and upstream's leaderboard) are English only."""


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def summarize_scores(scores: Sequence[EntryScore], primary: str, benchmark: str = "acebench") -> BenchmarkSummary:
    by_category: dict[str, list[EntryScore]] = defaultdict(list)
    for score in scores:
        by_category[score.category].append(score)
    rows: list[SummaryRow] = []
    summaries: dict[str, dict[str, float]] = {mode: {} for mode in MODES}
    counts: dict[str, int] = {}
    for mode in MODES:
        rounding = mode == "upstream"
        for language in LANGUAGES:
            accuracy: dict[str, float] = {}
            for stem in STEMS:
                entries = by_category.get(category_name(language, stem))
                if not entries:
                    continue
                value = _mean([entry.variant_scores.get(mode, entry.score) for entry in entries])
                accuracy[stem] = round(value, 3) if rounding else value
                rows.append(
                    SummaryRow(
                        name=category_name(language, stem),
                        kind="category",
                        score=accuracy[stem],
                        count=len(entries),
                        parent=f"{language}_{PARENT[stem]}",
                        variant=mode,
                    )
                )
                if stem in PROCESS_STEMS:
                    process = _mean([float(entry.details.get("process", {}).get(mode, 0.0)) for entry in entries])
                    rows.append(
                        SummaryRow(
                            name=f"{category_name(language, stem)}_process",
                            kind="group",
                            score=round(process, 3) if rounding else process,
                            count=len(entries),
                            parent=category_name(language, stem),
                            variant=mode,
                        )
                    )
            groups: dict[str, float] = {}
            for group, members in GROUP_MEMBERS.items():
                if all(stem in accuracy for stem in members):
                    mean = _mean([accuracy[stem] for stem in members])
                    # upstream rounds each group to 3 decimals before weighting
                    groups[group] = round(mean, 3) if rounding else mean
                    rows.append(
                        SummaryRow(
                            name=f"{language}_{group}",
                            kind="group",
                            score=groups[group],
                            count=sum(len(by_category[category_name(language, s)]) for s in members),
                            parent=f"{language}_summary",
                            variant=mode,
                            label=f"{group.replace('_', ' ').title()} ({language})" if group in SUMMARY_WEIGHTS else "",
                            headline=group in SUMMARY_WEIGHTS and language == PAPER_LANGUAGE and mode == primary,
                        )
                    )
            if all(group in groups for group in SUMMARY_WEIGHTS):
                total = sum(weight * groups[group] for group, weight in SUMMARY_WEIGHTS.items())
                # upstream's hard-coded weights sum to 1.0001; strict normalises them
                total = round(total, 3) if rounding else total / sum(SUMMARY_WEIGHTS.values())
                summaries[mode][language] = total
                count = sum(len(by_category[category_name(language, s)]) for s in STEMS)
                counts[language] = count
                rows.append(
                    SummaryRow(
                        name=f"{language}_summary",
                        kind="group",
                        score=total,
                        count=count,
                        parent="overall",
                        variant=mode,
                        label=f"Overall ({language})",
                        headline=language != PAPER_LANGUAGE and mode == primary,
                    )
                )
        if len(summaries[mode]) == len(LANGUAGES):
            both = _mean(list(summaries[mode].values()))
            rows.append(
                SummaryRow(
                    name="both_summary", kind="group", score=both, count=sum(counts.values()), parent="overall",
                    variant=mode, label="Overall (mean of en and zh)", headline=mode == primary,
                )
            )
        if PAPER_LANGUAGE in summaries[mode]:
            rows.append(_overall(summaries[mode][PAPER_LANGUAGE], counts[PAPER_LANGUAGE], mode, headline=False))
    if PAPER_LANGUAGE in summaries[primary]:
        rows.insert(0, _overall(summaries[primary][PAPER_LANGUAGE], counts[PAPER_LANGUAGE], "", headline=True))
    return BenchmarkSummary(benchmark=benchmark, rows=rows)


def _overall(score: float, count: int, variant: str, *, headline: bool) -> SummaryRow:
    """``overall`` is the English summary: the paper's (and upstream leaderboard's) ACEBench number."""
    return SummaryRow(
        name="overall", kind="overall", score=score, count=count, variant=variant,
        label="Overall (en, as the paper)", headline=headline,
    )
