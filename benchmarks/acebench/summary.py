"""ACEBench's summary (README §6.7): per-category accuracy, the atom / single_turn /
multi_turn / normal / special / agent groups, and ``0.578·normal + 0.2676·special +
0.1545·agent`` per language, for each scoring mode.

``upstream`` rounds every category to 3 decimals before averaging, as upstream does;
``strict`` keeps full precision and normalises the weights (upstream's sum to 1.0001). Groups are only reported when every member category was
scored (upstream would count a missing category as 0); the overall is the mean over the
languages whose summary is complete.
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


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def summarize_scores(scores: Sequence[EntryScore], primary: str, benchmark: str = "acebench") -> BenchmarkSummary:
    by_category: dict[str, list[EntryScore]] = defaultdict(list)
    for score in scores:
        by_category[score.category].append(score)
    rows: list[SummaryRow] = []
    overall_by_mode: dict[str, list[float]] = defaultdict(list)
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
                    groups[group] = _mean([accuracy[stem] for stem in members])
                    rows.append(
                        SummaryRow(
                            name=f"{language}_{group}",
                            kind="group",
                            score=round(groups[group], 3) if rounding else groups[group],
                            count=sum(len(by_category[category_name(language, s)]) for s in members),
                            parent=f"{language}_summary",
                            variant=mode,
                        )
                    )
            if all(group in groups for group in SUMMARY_WEIGHTS):
                total = sum(weight * groups[group] for group, weight in SUMMARY_WEIGHTS.items())
                # upstream's hard-coded weights sum to 1.0001; strict normalises them
                total = round(total, 3) if rounding else total / sum(SUMMARY_WEIGHTS.values())
                overall_by_mode[mode].append(total)
                rows.append(
                    SummaryRow(
                        name=f"{language}_summary",
                        kind="group",
                        score=total,
                        count=sum(len(by_category[category_name(language, s)]) for s in STEMS),
                        parent="overall",
                        variant=mode,
                    )
                )
        if overall_by_mode[mode]:
            rows.append(SummaryRow(name="overall", kind="overall", score=_mean(overall_by_mode[mode]), variant=mode))
    if overall_by_mode[primary]:
        rows.append(SummaryRow(name="overall", kind="overall", score=_mean(overall_by_mode[primary]), variant=""))
    return BenchmarkSummary(benchmark=benchmark, rows=rows)
