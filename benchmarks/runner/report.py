"""Reports of a run: rich tables, ``results.json``, ``results.csv`` and ``chart.png``."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from rich.markup import escape
from rich.table import Table

from looptool.benchmarks.base import SummaryRow, create_benchmark
from looptool.benchmarks.runner.engine import CellResult
from looptool.jsonl import write_json_atomic, write_text_atomic
from looptool.logs import console

CSV_COLUMNS = [
    "model", "mode", "checkpoint", "benchmark", "variant", "kind", "name", "label", "headline", "parent", "score", "count",
]


class CellReport(BaseModel):
    """One cell in ``results.json``."""

    model_config = ConfigDict(extra="forbid")

    model: str
    mode: str
    checkpoint: str | None = None
    benchmark: str
    complete: bool
    entries: int
    outputs: int
    failed: int
    requests: int
    wall_s: float
    rows: list[SummaryRow] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="what the mode follows, where it differs")

    @property
    def column(self) -> str:
        return f"{self.model} [{self.mode}]"


def _notes(result: CellResult) -> list[str]:
    benchmark = create_benchmark(result.plan.benchmark, result.plan.request.options)
    try:
        return benchmark.mode_notes(result.plan.endpoint.mode)
    finally:
        benchmark.close()


def cell_reports(results: Sequence[CellResult]) -> list[CellReport]:
    return [
        CellReport(
            model=result.plan.endpoint.display_name,
            mode=result.plan.endpoint.mode.value,
            checkpoint=result.plan.checkpoint,
            benchmark=result.plan.benchmark,
            complete=result.manifest.complete,
            entries=result.manifest.entries,
            outputs=result.manifest.outputs,
            failed=result.manifest.failed,
            requests=result.manifest.requests,
            wall_s=round(result.manifest.wall_s, 3),
            rows=result.summary.rows if result.summary else [],
            notes=_notes(result),
        )
        for result in results
    ]


def _row_key(row: SummaryRow) -> tuple[str, str]:
    return (row.variant, row.name)


def _label(row: SummaryRow, parents: dict[tuple[str, str], str | None]) -> str:
    """The row name indented by its depth in the leaderboard's hierarchy."""
    depth, parent, seen = 0, row.parent, {row.name}
    while parent is not None and parent not in seen and (row.variant, parent) in parents:
        depth, seen = depth + 1, seen | {parent}
        parent = parents[(row.variant, parent)]
    if row.kind != "overall" and parent is None and depth == 0:
        depth = 1 if row.kind == "group" else 2
    elif parent is not None:
        depth += 1
    name = f"{row.name} ({row.variant})" if row.variant else row.name
    if row.label:
        name = f"{name} = {row.label}"
    return "  " * depth + name


def headline_tables(reports: Sequence[CellReport]) -> list[Table]:
    """Per benchmark, one line per model+mode with the headline columns, as the public
    leaderboard or the paper shows them (BFCL: Overall, Non-Live AST, Live, Multi Turn,
    Relevance, Irrelevance)."""
    built: list[Table] = []
    for benchmark in dict.fromkeys(report.benchmark for report in reports):
        cells = [report for report in reports if report.benchmark == benchmark]
        columns: dict[tuple[str, str], str] = {}
        for report in cells:
            for row in report.rows:
                if row.headline:
                    columns.setdefault(_row_key(row), row.label or row.name)
        if not columns:
            continue
        notes = dict.fromkeys(f"{report.mode}: {note}" for report in cells for note in report.notes)
        table = Table(title=f"{benchmark}: leaderboard columns (accuracy %)", caption="\n".join(notes) or None)
        table.add_column("model [mode]")
        for (variant, _), label in columns.items():
            table.add_column(escape(f"{label} ({variant})" if variant else label), justify="right")
        for report in cells:
            values = []
            for key in columns:
                match = next((row for row in report.rows if _row_key(row) == key), None)
                values.append(f"{100 * match.score:.2f}" if match else "-")
            suffix = "" if report.complete else " (partial)"
            table.add_row(escape(report.column + suffix), *values)
        built.append(table)
    return built


def tables(reports: Sequence[CellReport]) -> list[Table]:
    """One table per benchmark: rows in leaderboard order, one column per model+mode."""
    built: list[Table] = []
    for benchmark in dict.fromkeys(report.benchmark for report in reports):
        cells = [report for report in reports if report.benchmark == benchmark]
        order: dict[tuple[str, str], SummaryRow] = {}
        for report in cells:
            for row in report.rows:
                order.setdefault(_row_key(row), row)
        parents = {key: row.parent for key, row in order.items()}
        table = Table(title=f"{benchmark} (accuracy %)", show_lines=False)
        table.add_column("category")
        table.add_column("n", justify="right")
        for report in cells:
            suffix = "" if report.complete else " (partial)"
            table.add_column(escape(report.column + suffix), justify="right")
        for key, template in order.items():
            values = []
            for report in cells:
                match = next((row for row in report.rows if _row_key(row) == key), None)
                values.append(f"{100 * match.score:.2f}" if match else "-")
            style = "bold" if template.kind != "category" else None
            table.add_row(escape(_label(template, parents)), str(template.count), *values, style=style)
        built.append(table)
    return built


def print_tables(reports: Sequence[CellReport]) -> None:
    for table in [*tables(reports), *headline_tables(reports)]:
        console.print(table)


def write_results(run_dir: Path, reports: Sequence[CellReport], *, chart: bool = True) -> list[Path]:
    """``results.json`` + ``results.csv`` (+ ``chart.png``) in ``run_dir``; returns the paths."""
    written = [run_dir / "results.json", run_dir / "results.csv"]
    write_json_atomic(written[0], [report.model_dump(mode="json") for report in reports])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for report in reports:
        for row in report.rows:
            writer.writerow(
                [report.model, report.mode, report.checkpoint or "", report.benchmark, row.variant,
                 row.kind, row.name, row.label, int(row.headline), row.parent or "", f"{row.score:.6f}", row.count]
            )
    write_text_atomic(written[1], buffer.getvalue())
    if chart and any(report.rows for report in reports):
        written.append(write_chart(run_dir / "chart.png", reports))
    return written


def write_chart(path: Path, reports: Sequence[CellReport]) -> Path:
    """Grouped bars: per benchmark, the score of each category/group for each model+mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benchmarks = list(dict.fromkeys(report.benchmark for report in reports if report.rows))
    figure, axes = plt.subplots(len(benchmarks), 1, figsize=(14, 4.5 * len(benchmarks)), squeeze=False)
    for axis, benchmark in zip(axes[:, 0], benchmarks, strict=True):
        cells = [report for report in reports if report.benchmark == benchmark and report.rows]
        names = list(dict.fromkeys(f"{row.name}|{row.variant}" for report in cells for row in report.rows))
        width = 0.8 / max(1, len(cells))
        for index, report in enumerate(cells):
            scores = {f"{row.name}|{row.variant}": 100 * row.score for row in report.rows}
            axis.bar(
                [position + index * width for position in range(len(names))],
                [scores.get(name, 0.0) for name in names],
                width=width,
                label=report.column + (f" @{report.checkpoint}" if report.checkpoint else ""),
            )
        axis.set_xticks([position + 0.4 - width / 2 for position in range(len(names))])
        axis.set_xticklabels([name.rstrip("|").replace("|", " ") for name in names], rotation=60, ha="right", fontsize=8)
        axis.set_ylabel("accuracy %")
        axis.set_ylim(0, 100)
        axis.set_title(benchmark)
        axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    temporary.replace(path)
    return path
