"""Repeated evaluation (``looptool sweep --seeds N``): a sampling model's score moves between
runs (BFCL multi-turn swings by about 10 points for one model), so a sampling cell is run N
times with seeds ``seed, seed+1, ...`` and reported as mean and spread.

A repeat is an ordinary cell whose model label ends in ``#seed<k>`` (its own storage, resume
and identity); greedy cells (temperature 0) give the same answers every time and run once.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict
from rich.markup import escape
from rich.table import Table

from looptool.benchmarks.base import ModelEndpoint
from looptool.benchmarks.runner.report import CellReport

SEED_LABEL = re.compile(r"^(?P<base>.*)#seed(?P<seed>-?\d+)$")


def seeded_endpoints(endpoint: ModelEndpoint, seeds: int) -> list[ModelEndpoint]:
    """``endpoint`` once when greedy or ``seeds`` is 1, else one copy per seed, labelled
    ``<label>#seed<k>``, with ``sampling.seed`` = the endpoint's seed (or 0) + i."""
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, not {seeds}")
    if seeds == 1 or endpoint.sampling.temperature == 0:
        return [endpoint]
    first = endpoint.sampling.seed or 0
    return [
        endpoint.model_copy(
            update={
                "label": f"{endpoint.display_name}#seed{first + index}",
                "sampling": endpoint.sampling.model_copy(update={"seed": first + index}),
            }
        )
        for index in range(seeds)
    ]


class SeedStatistics(BaseModel):
    """One row of one model+mode+benchmark over its repeats."""

    model_config = ConfigDict(extra="forbid")

    model: str
    mode: str
    checkpoint: str | None
    benchmark: str
    row: str
    label: str
    variant: str
    seeds: list[int]
    scores: list[float]
    mean: float
    stdev: float
    minimum: float
    maximum: float


def seed_statistics(reports: Sequence[CellReport]) -> list[SeedStatistics]:
    """Mean, sample standard deviation and range of every headline or overall row (of every
    row when a partial run has none) across the repeats of each model."""
    groups: dict[tuple[str, str, str | None, str], list[tuple[int, CellReport]]] = {}
    for report in reports:
        match = SEED_LABEL.match(report.model)
        if match:
            key = (match["base"], report.mode, report.checkpoint, report.benchmark)
            groups.setdefault(key, []).append((int(match["seed"]), report))
    found: list[SeedStatistics] = []
    for (model, mode, checkpoint, benchmark), repeats in groups.items():
        repeats.sort(key=lambda item: item[0])
        names: dict[tuple[str, str], str] = {}
        for _, report in repeats:
            chosen = [row for row in report.rows if row.headline or row.kind == "overall"] or report.rows
            for row in chosen:  # the leaderboard columns; a partial run (no overall): every row
                names.setdefault((row.variant, row.name), row.label)
        for (variant, name), label in names.items():
            pairs = [
                (seed, row.score)
                for seed, report in repeats
                for row in report.rows
                if row.name == name and row.variant == variant
            ]
            if len(pairs) < 2:
                continue
            scores = [score for _, score in pairs]
            found.append(
                SeedStatistics(
                    model=model, mode=mode, checkpoint=checkpoint, benchmark=benchmark, row=name, label=label,
                    variant=variant, seeds=[seed for seed, _ in pairs], scores=scores,
                    mean=statistics.fmean(scores), stdev=statistics.stdev(scores),
                    minimum=min(scores), maximum=max(scores),
                )
            )
    return found


def seed_table(stats: Sequence[SeedStatistics]) -> Table:
    table = Table(title="repeated runs: mean ± sample std (min-max), accuracy %")
    for column in ("model [mode] / benchmark", "row", "n", "mean ± std", "range"):
        table.add_column(column, justify="right" if column in ("n", "mean ± std", "range") else "left")
    for item in stats:
        name = f"{item.label or item.row}" + (f" ({item.variant})" if item.variant else "")
        table.add_row(
            escape(f"{item.model} [{item.mode}] / {item.benchmark}"), escape(name), str(len(item.scores)),
            f"{100 * item.mean:.2f} ± {100 * item.stdev:.2f}", f"{100 * item.minimum:.2f}-{100 * item.maximum:.2f}",
        )
    return table
