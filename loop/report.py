"""The loop's report: per mode and iteration what the loop found, fixed and generated (the
paper's Table 3), accuracy per iteration, time per stage and tokens per role.

One builder (:func:`build_report`, from one or several run folders) and one set of tables
(:func:`report_tables`), rendered three ways: rich tables in the terminal
(:func:`render_report`), markdown (``RUN/report.md``) and a PNG of accuracy per iteration
(``RUN/accuracy.png``), written by :func:`write_report`.

A run that was interrupted has no ``run_report.json`` yet; its ``iteration.json`` files are
read instead (an iteration's own file wins over the report's copy).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from looptool.jsonl import write_text_atomic
from looptool.loop.records import IterationSummary, LoopMode, RunReport, Verdict
from looptool.loop.run_layout import (
    RUN_REPORT_FILE,
    RunFolderError,
    check_run_dir,
    iteration_folders,
)

log = logging.getLogger(__name__)
ModelT = TypeVar("ModelT", bound=BaseModel)

HELDOUT_METRIC = "held-out ToolMatch"
EPISODE_METRIC = "held-out end-state success"
REPORT_FILE = "report.md"
CHART_FILE = "accuracy.png"
COMPARISON_REPORT_FILE = "comparison.md"
COMPARISON_CHART_FILE = "comparison.png"
CHART_COLUMNS = 3
WARNINGS_TITLE = "Warnings: stages that produced nothing, contamination, unfinished runs"


class RunSource(StrEnum):
    """Which files a run's report was read from."""

    REPORT = "run_report.json"
    ITERATION_FILES = "iteration.json files (run interrupted or still running)"
    BOTH = "run_report.json + newer iteration.json files"


class RunView(BaseModel):
    """One run folder's report, as read."""

    model_config = ConfigDict(extra="forbid")

    label: str
    run_dir: str
    source: RunSource
    report: RunReport

    @property
    def modes(self) -> list[LoopMode]:
        present = {summary.mode for summary in self.report.iterations}
        return [mode for mode in LoopMode if mode in present]

    def iterations(self, mode: LoopMode) -> list[IterationSummary]:
        return sorted(
            (summary for summary in self.report.iterations if summary.mode is mode),
            key=lambda summary: summary.iteration,
        )


class LoopReport(BaseModel):
    """One or several runs, rendered side by side."""

    model_config = ConfigDict(extra="forbid")

    runs: list[RunView]

    @property
    def several(self) -> bool:
        return len(self.runs) > 1


@dataclass(frozen=True)
class ReportTable:
    """A table of the report, independent of where it is rendered."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""
    #: columns of text (left-aligned); the others hold numbers
    text_columns: tuple[str, ...] = ("run", "mode", "metric")


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote (``chart`` is None when no accuracy was recorded)."""

    markdown: Path
    chart: Path | None


# ---------------------------------------------------------------- reading


def _read_model(path: Path, model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise RunFolderError(f"{path}: field '{where}': {first['msg']}") from None


def load_run(run_dir: str | Path, label: str | None = None) -> RunView:
    """Read one run folder: ``run_report.json`` plus any ``iteration.json`` it does not hold yet."""
    path = check_run_dir(run_dir)
    report_path = path / RUN_REPORT_FILE
    report: RunReport | None = None
    if report_path.exists():
        report = _read_model(report_path, RunReport)
    from_files: dict[tuple[LoopMode, int], IterationSummary] = {}
    for folder in iteration_folders(path):
        if folder.summary.exists():
            summary = _read_model(folder.summary, IterationSummary)
            from_files[(summary.mode, summary.iteration)] = summary
    if report is None and not from_files:
        raise RunFolderError(
            f"{path} has no {RUN_REPORT_FILE} and no finished iteration (no <mode>/iter_<j>/iteration.json) yet"
        )
    if report is None:
        source = RunSource.ITERATION_FILES
        report = RunReport(run_dir=str(path))
    else:
        known = {(summary.mode, summary.iteration) for summary in report.iterations}
        source = RunSource.BOTH if set(from_files) - known else RunSource.REPORT
    merged = {(summary.mode, summary.iteration): summary for summary in report.iterations}
    merged.update(from_files)
    report = report.model_copy(update={"iterations": list(merged.values())})
    return RunView(label=label or path.name, run_dir=str(path), source=source, report=report)


def build_report(run_dirs: Sequence[str | Path]) -> LoopReport:
    """The report of one or several runs (labels are the folder names, made unique)."""
    if not run_dirs:
        raise ValueError("build_report needs at least one run folder")
    paths = [Path(run_dir) for run_dir in run_dirs]
    names = [path.name for path in paths]
    labels = [
        name if names.count(name) == 1 else str(path) for name, path in zip(names, paths, strict=True)
    ]
    return LoopReport(runs=[load_run(path, label) for path, label in zip(paths, labels, strict=True)])


# ---------------------------------------------------------------- tables


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _seconds(value: float) -> str:
    return f"{value:.1f}s" if value < 120 else f"{value / 60:.1f}m"


def _of(used: int, found: int) -> str:
    """``used`` entered D_{j+1}; ``(of found)`` when the budget cut some."""
    return str(used) if used == found or found == 0 else f"{used} (of {found})"


def _yield(accepted: int, asked: int) -> str:
    return "-" if asked == 0 else f"{accepted}/{asked} ({100 * accepted / asked:.0f}%)"


def _row_key(report: LoopReport, run: RunView, summary: IterationSummary) -> list[str]:
    key = [run.label] if report.several else []
    return [*key, summary.mode.value, str(summary.iteration)]


def _key_columns(report: LoopReport) -> list[str]:
    return (["run"] if report.several else []) + ["mode", "iter"]


def _every_iteration(report: LoopReport) -> list[tuple[RunView, IterationSummary]]:
    return [(run, summary) for run in report.runs for mode in run.modes for summary in run.iterations(mode)]


def seed_table(report: LoopReport) -> ReportTable:
    rows = []
    for run in report.runs:
        seed = run.report
        sources = ", ".join(f"{name} {count}" for name, count in sorted(seed.seed_counts.items())) or "-"
        benchmarks = ", ".join(
            f"{name} {_percent(value)}" for name, value in sorted(seed.base_benchmark_accuracy.items())
        )
        rows.append(
            [
                run.label,
                str(sum(seed.seed_counts.values())),
                sources,
                str(seed.heldout_size),
                _percent(seed.base_heldout_accuracy),
                benchmarks or "-",
                run.source.value,
            ]
        )
    return ReportTable(
        title="Seed set and base model",
        columns=["run", "seed samples", "by source", "held-out", "base held-out", "base benchmarks", "read from"],
        rows=rows,
        text_columns=("run", "by source", "base benchmarks", "read from"),
    )


def findings_table(report: LoopReport) -> ReportTable:
    """What probing and judging found in each iteration's data."""
    verdicts = list(Verdict)
    rows = []
    for run, summary in _every_iteration(report):
        rows.append(
            [
                *_row_key(report, run, summary),
                str(summary.trained_on),
                str(summary.probed),
                str(summary.mastered),
                str(summary.mismatched),
                str(summary.probe_failed),
                *(str(summary.verdicts.get(verdict.value, 0)) for verdict in verdicts),
                str(summary.relabeled),
            ]
        )
    return ReportTable(
        title="Probe and judge: what the policy got wrong",
        columns=[
            *_key_columns(report), "trained on", "probed", "mastered", "mismatched", "probe failed",
            *(verdict.value for verdict in verdicts), "relabeled",
        ],
        rows=rows,
    )


def composition_table(report: LoopReport) -> ReportTable:
    """The paper's Table 3: the parts of D_{j+1} and the expansion yield."""
    rows = []
    for run, summary in _every_iteration(report):
        used = summary.next_counts
        per_generator = ", ".join(
            f"{name} {100 * value:.0f}%" for name, value in sorted(summary.expansion_yield_by_generator.items())
        )
        rows.append(
            [
                *_row_key(report, run, summary),
                _of(used.get("error_seeds", 0), summary.error_seeds),
                _of(used.get("expansions", 0), summary.expansions_accepted),
                _of(used.get("high_ppl", 0), summary.high_ppl),
                str(used.get("fresh", 0)),
                str(summary.next_size),
                _yield(summary.expansions_accepted, summary.expansions_asked),
                per_generator or "-",
                str(summary.heldout_duplicates_removed),
            ]
        )
    return ReportTable(
        title="Next iteration's data D_{j+1} (Table 3)",
        columns=[
            *_key_columns(report), "D^ES", "D^EE", "D^HPPL", "fresh", "D_{j+1}",
            "expansion yield", "yield per generator", "held-out dups removed",
        ],
        rows=rows,
        text_columns=("run", "mode", "yield per generator"),
        caption="D^ES: error seeds (PRED_WRONG + relabeled); D^EE: accepted expansions; "
        "D^HPPL: mastered, high perplexity. 'n (of m)': the budget cut m to n.",
    )


def episodes_table(report: LoopReport) -> ReportTable:
    """The episode side of each iteration (``loop.episodes``): probe, judge, expand, E_{j+1}."""
    rows = []
    for run, summary in _every_iteration(report):
        episodes = summary.episodes
        if episodes is None:
            continue
        verdicts = ", ".join(f"{name} {count}" for name, count in sorted(episodes.verdicts.items()))
        rejected = ", ".join(f"{name} {count}" for name, count in sorted(episodes.expansions_rejected.items()))
        used = episodes.next_counts
        rows.append(
            [
                *_row_key(report, run, summary),
                str(episodes.trained_on),
                str(episodes.train_steps),
                f"{episodes.succeeded}/{episodes.probed}",
                verdicts or "-",
                str(episodes.relabeled),
                str(episodes.error_seeds),
                _yield(episodes.expansions_accepted, episodes.expansions_asked),
                rejected or "-",
                str(used.get("error_seeds", 0)),
                str(used.get("expansions", 0)),
                str(used.get("fresh", 0)),
                str(episodes.next_size),
                _percent(episodes.heldout_success),
            ]
        )
    return ReportTable(
        title="Episodes: probe, judge, expand, E_{j+1}",
        columns=[
            *_key_columns(report), "E_j", "GRPO steps", "succeeded", "verdicts", "relabeled", "error seeds",
            "expansion yield", "rejected by", "E^ES", "E^EE", "fresh", "E_{j+1}", "held-out success",
        ],
        rows=rows,
        text_columns=("run", "mode", "verdicts", "rejected by"),
        caption="each iteration's second GRPO phase trains on E_j (multi-step episodes); succeeded: greedy "
        "rollouts that reached the expected end state; held-out success: end-state success on the held-out "
        "episodes",
    )


def _metrics(run: RunView) -> list[str]:
    names = dict.fromkeys(run.report.base_benchmark_accuracy)
    for summary in run.report.iterations:
        names.update(dict.fromkeys(summary.benchmark_accuracy))
    episodes = run.report.base_episode_success is not None or any(
        summary.episodes is not None and summary.episodes.heldout_success is not None
        for summary in run.report.iterations)
    return [HELDOUT_METRIC, *([EPISODE_METRIC] if episodes else []), *names]


def _accuracy(run: RunView, summary: IterationSummary | None, metric: str) -> float | None:
    """``summary`` None: the base model (iteration 0)."""
    if summary is None:
        if metric == HELDOUT_METRIC:
            return run.report.base_heldout_accuracy
        if metric == EPISODE_METRIC:
            return run.report.base_episode_success
        return run.report.base_benchmark_accuracy.get(metric)
    if metric == HELDOUT_METRIC:
        return summary.heldout_accuracy
    if metric == EPISODE_METRIC:
        return summary.episodes.heldout_success if summary.episodes is not None else None
    return summary.benchmark_accuracy.get(metric)


@dataclass(frozen=True)
class AccuracySeries:
    """One line of the accuracy chart: a metric of one mode of one run, by iteration."""

    run: str
    mode: LoopMode
    metric: str
    points: dict[int, float]


def accuracy_series(report: LoopReport) -> list[AccuracySeries]:
    """Accuracy per iteration for every run, mode and metric; iteration 0 is the base model."""
    series = []
    for run in report.runs:
        for mode in run.modes:
            for metric in _metrics(run):
                points: dict[int, float] = {}
                base = _accuracy(run, None, metric)
                if base is not None:
                    points[0] = base
                for summary in run.iterations(mode):
                    value = _accuracy(run, summary, metric)
                    if value is not None:
                        points[summary.iteration] = value
                if points:
                    series.append(AccuracySeries(run=run.label, mode=mode, metric=metric, points=points))
    return series


def accuracy_table(report: LoopReport) -> ReportTable:
    series = accuracy_series(report)
    iterations = sorted({iteration for line in series for iteration in line.points})
    rows = [
        [
            *([line.run] if report.several else []),
            line.mode.value,
            line.metric,
            *(_percent(line.points.get(iteration)) for iteration in iterations),
        ]
        for line in series
    ]
    return ReportTable(
        title="Accuracy per iteration",
        columns=[
            *(["run"] if report.several else []), "mode", "metric",
            *("0 (base)" if iteration == 0 else str(iteration) for iteration in iterations),
        ],
        rows=rows,
        caption="iteration j: the policy trained on D_j; 0: the base model",
    )


def stage_time_table(report: LoopReport) -> ReportTable:
    stages = list(
        dict.fromkeys(timing.stage for _, summary in _every_iteration(report) for timing in summary.stage_times)
    )
    rows = []
    for run, summary in _every_iteration(report):
        by_stage = {timing.stage: timing for timing in summary.stage_times}
        cells = []
        for stage in stages:
            timing = by_stage.get(stage)
            cells.append("-" if timing is None else "skipped" if timing.skipped else _seconds(timing.seconds))
        total = sum(timing.seconds for timing in summary.stage_times if not timing.skipped)
        rows.append([*_row_key(report, run, summary), *cells, _seconds(total)])
    return ReportTable(title="Wall time per stage", columns=[*_key_columns(report), *stages, "total"], rows=rows)


def token_table(report: LoopReport) -> ReportTable:
    roles = sorted({role for _, summary in _every_iteration(report) for role in summary.tokens_by_role})
    rows = [
        [
            *_row_key(report, run, summary),
            *(f"{summary.tokens_by_role.get(role, 0):,}" for role in roles),
            f"{sum(summary.tokens_by_role.values()):,}",
        ]
        for run, summary in _every_iteration(report)
    ]
    return ReportTable(title="Tokens per role", columns=[*_key_columns(report), *roles, "total"], rows=rows)


def report_tables(report: LoopReport) -> list[ReportTable]:
    """Every table of the report, in the order they are shown (empty ones left out)."""
    tables = [
        seed_table(report),
        findings_table(report),
        composition_table(report),
        episodes_table(report),
        accuracy_table(report),
        stage_time_table(report),
        token_table(report),
    ]
    return [table for table in tables if table.rows]


def report_warnings(report: LoopReport) -> list[str]:
    """What must not be missed: stages that produced nothing, contamination, unfinished runs."""
    warnings = []
    for run in report.runs:
        prefix = f"{run.label}: " if report.several else ""
        if run.source is not RunSource.REPORT:
            warnings.append(f"{prefix}read from {run.source.value}")
        for line in run.report.contamination:
            warnings.append(f"{prefix}contamination: {line}")
        for mode in run.modes:
            for summary in run.iterations(mode):
                for warning in summary.warnings:
                    warnings.append(f"{prefix}{mode.value}/iter_{summary.iteration}: {warning}")
    return warnings


# ---------------------------------------------------------------- rendering


def _title(report: LoopReport) -> str:
    return "Loop report: " + ", ".join(run.label for run in report.runs)


def rich_table(table: ReportTable) -> Table:
    rendered = Table(title=escape(table.title), caption=escape(table.caption) or None, title_justify="left")
    for column in table.columns:
        rendered.add_column(escape(column), justify="left" if column in table.text_columns else "right")
    for row in table.rows:
        rendered.add_row(*(escape(cell) for cell in row))
    return rendered


def render_report(report: LoopReport, console: Console) -> None:
    """Print the report: a red panel of warnings first (when there are any), then the tables."""
    console.rule(escape(_title(report)))
    warnings = report_warnings(report)
    if warnings:
        body = Group(*(f"[bold]•[/bold] {escape(warning)}" for warning in warnings))
        console.print(Panel(body, title=f"[bold red]{WARNINGS_TITLE}[/bold red]", border_style="red"))
    for table in report_tables(report):
        console.print(rich_table(table))


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: ReportTable) -> str:
    lines = [f"### {table.title}", ""]
    lines.append("| " + " | ".join(_markdown_cell(column) for column in table.columns) + " |")
    lines.append("|" + "|".join("---" if column in table.text_columns else "---:" for column in table.columns) + "|")
    for row in table.rows:
        lines.append("| " + " | ".join(_markdown_cell(cell) for cell in row) + " |")
    if table.caption:
        lines.extend(["", f"_{table.caption}_"])
    return "\n".join(lines)


def render_markdown(report: LoopReport, chart: str | None = None) -> str:
    """The report as markdown; ``chart`` is the accuracy PNG's path relative to the markdown."""
    parts = [f"# {_title(report)}", ""]
    parts.extend(f"- `{run.label}`: `{run.run_dir}` ({run.source.value})" for run in report.runs)
    warnings = report_warnings(report)
    if warnings:
        parts.extend(["", f"## ⚠ {WARNINGS_TITLE}", ""])
        parts.extend(f"> **{_markdown_cell(warning)}**  " for warning in warnings)
    if chart:
        parts.extend(["", f"![accuracy per iteration]({chart})"])
    for table in report_tables(report):
        parts.extend(["", markdown_table(table)])
    return "\n".join(parts) + "\n"


def write_accuracy_chart(report: LoopReport, path: Path) -> Path | None:
    """One panel per metric, one line per run and mode (iteration 0 = base); None when no
    accuracy was recorded at all."""
    series = accuracy_series(report)
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(dict.fromkeys(line.metric for line in series))
    last = max(iteration for line in series for iteration in line.points)
    columns = min(CHART_COLUMNS, len(metrics))
    rows = -(-len(metrics) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.5 * columns, 4.2 * rows), squeeze=False)
    for axis in axes.flat[len(metrics) :]:
        axis.set_visible(False)
    for axis, metric in zip(axes.flat, metrics, strict=False):
        for line in (item for item in series if item.metric == metric):
            iterations = sorted(line.points)
            label = f"{line.run}: {line.mode.value}" if report.several else line.mode.value
            axis.plot(
                iterations,
                [100 * line.points[iteration] for iteration in iterations],
                marker="o",
                linestyle="--" if line.mode is LoopMode.STATIC else "-",
                label=label,
            )
        axis.set_title(metric)
        axis.set_xlabel("iteration (0 = base model)")
        axis.set_ylabel("accuracy %")
        axis.set_ylim(0, 100)
        axis.set_xlim(-0.2, last + 0.2)
        axis.xaxis.get_major_locator().set_params(integer=True)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    temporary.replace(path)
    return path


def write_report(report: LoopReport, out_dir: str | Path | None = None) -> ReportFiles:
    """Write the markdown and the accuracy chart. One run: ``RUN/report.md`` and
    ``RUN/accuracy.png``; several: ``comparison.md`` and ``comparison.png`` in ``out_dir``
    (default: the first run's folder), so no run's own report is overwritten."""
    folder = Path(out_dir) if out_dir is not None else Path(report.runs[0].run_dir)
    markdown_name, chart_name = (
        (COMPARISON_REPORT_FILE, COMPARISON_CHART_FILE) if report.several else (REPORT_FILE, CHART_FILE)
    )
    chart = write_accuracy_chart(report, folder / chart_name)
    if chart is None:
        log.info("no accuracy recorded yet: no chart written")
    markdown = folder / markdown_name
    write_text_atomic(markdown, render_markdown(report, chart.name if chart else None))
    return ReportFiles(markdown=markdown, chart=chart)
