"""Run-level pages: the runs list, a run's overview, dataset composition and benchmarks."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from looptool.loop.report import RunView
from looptool.traces import TraceSummary
from looptool.view.cells import Cell, score_grid
from looptool.view.charts import line_chart
from looptool.view.html import Safe, join, link, pre, seg, table, tag, url
from looptool.view.page_parts import VERDICTS, fmt_percent, fmt_seconds, stage_cell
from looptool.view.runfolder import RunFolder
from looptool.view.samples import PARTS, SampleFilter, SampleIndex


def runs_page(runs: list[RunFolder], views: list[RunView | None]) -> Safe:
    """The runs, and their accuracy per iteration on shared axes (one line per run and mode)."""
    listing = table(["run", "kind", "folder"],
                    [[link(f"/run/{number}/", run.label), run.kind.value, str(run.path)] for number, run in enumerate(runs)])
    metrics: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for run, view in zip(runs, views, strict=True):
        for metric, series in (_accuracy_series(view) if view is not None else {}).items():
            for mode, values in series.items():
                metrics.setdefault(metric, {})[f"{run.label}/{mode}"] = values
    if not metrics:
        return listing
    return join([listing, tag("h2", "Accuracy per iteration, all runs (iteration 0: the base model)"),
                 tag("div", *(line_chart(metric, values) for metric, values in metrics.items()))])


def _accuracy_series(view: RunView) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """metric -> mode -> [(iteration, accuracy)], iteration 0 the base model."""
    report = view.report
    metrics: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for mode in view.modes:
        for summary in view.iterations(mode):
            values = {"held-out ToolMatch": summary.heldout_accuracy, **summary.benchmark_accuracy}
            base = {"held-out ToolMatch": report.base_heldout_accuracy, **report.base_benchmark_accuracy}
            for metric, value in values.items():
                if value is None:
                    continue
                series = metrics.setdefault(metric, {}).setdefault(mode.value, [])
                if not series and base.get(metric) is not None:
                    series.append((0, float(base[metric] or 0.0)))
                series.append((summary.iteration, value))
    return metrics


def overview_page(base: str, run: RunFolder, view: RunView | None, problem: str | None,
                  trace_summaries: list[tuple[str, TraceSummary]], trace_problems: list[str],
                  cells: list[Cell]) -> Safe:
    parts: list[Any] = [tag("p", tag("b", run.kind.value), f" in {run.path}. ",
                           tag("span", "Reload the page to see new results of a running run.", cls="meta"))]
    if problem:
        parts.append(tag("div", problem, cls="notice"))
    warnings = [f"{s.mode.value} iteration {s.iteration}: {w}" for s in (view.report.iterations if view else [])
                for w in s.warnings]
    warnings += [f"contamination: {item}" for item in (view.report.contamination if view else [])]
    warnings += trace_problems
    if warnings:
        parts.append(tag("div", tag("b", "Warnings"), tag("ul", *(tag("li", w) for w in warnings)), cls="panel"))
    top = run.top_stages()
    if top:
        parts += [tag("h2", "Stages"), table(["stage", "status"], [[s.name, stage_cell(s)] for s in top])]
    iterations = run.iterations()
    if iterations:
        rows = [[folder.label, *(stage_cell(state) for state in run.iteration_stages(folder))]
                for folder in iterations]
        parts += [tag("h2", "Iterations x stages"),
                  table(["iteration", "train", "probe", "eval", "judge", "expand", "compose"], rows)]
    if view is not None:
        parts += _report_sections(base, run, view)
    chart = run.chart()
    if chart is not None:
        parts += [tag("h2", "Accuracy plot (", chart.name, ")"),
                  tag("img", src=f"{base}/chart.png", alt=f"accuracy per iteration ({chart.name})", width="720")]
    roles: Counter[str] = Counter()
    for summary in view.report.iterations if view else []:
        roles.update(summary.tokens_by_role)
    if roles:
        parts += [tag("h2", "Tokens per role (iteration summaries)"),
                  table(["role", "tokens"], [[role, f"{count:,}"] for role, count in sorted(roles.items())])]
    for store, trace_summary in trace_summaries:
        if trace_summary.roles:
            parts += [tag("h2", f"Model calls per role ({store})"),
                      table(["role", "calls", "prompt tokens", "completion tokens", "mean latency s"],
                            [[r.role, r.calls, f"{r.prompt_tokens:,}", f"{r.completion_tokens:,}",
                              f"{r.mean_latency_s:.2f}"] for r in trace_summary.roles])]
    if cells:
        parts += [tag("h2", "Benchmarks"), benchmark_tables(base, cells)]
    config = run.config_text()
    if config is not None:
        parts += [tag("h2", "Config"), tag("details", tag("summary", "config.yaml"), pre(config))]
    return join(parts)


def _report_sections(base: str, run: RunFolder, view: RunView) -> list[Any]:
    report = view.report
    parts: list[Any] = [tag("p", "Report read from ", view.source.value, ".", cls="meta")]
    if report.seed_counts:
        parts += [tag("h2", "Seed set"),
                  table(["source", "samples"], [[name, count] for name, count in sorted(report.seed_counts.items())]
                        + [["held-out", report.heldout_size]])]
    series = _accuracy_series(view)
    if series:
        parts.append(tag("h2", "Accuracy per iteration (iteration 0: the base model)"))
        parts.append(tag("div", *(line_chart(metric, values) for metric, values in series.items())))
        rows = [["base", "0", fmt_percent(report.base_heldout_accuracy),
                 ", ".join(f"{k} {fmt_percent(v)}" for k, v in sorted(report.base_benchmark_accuracy.items()))]]
        for mode in view.modes:
            for s in view.iterations(mode):
                rows.append([mode.value, str(s.iteration), fmt_percent(s.heldout_accuracy),
                             ", ".join(f"{k} {fmt_percent(v)}" for k, v in sorted(s.benchmark_accuracy.items()))])
        parts.append(table(["mode", "iteration", "held-out ToolMatch", "benchmarks"], rows))
    counts: list[list[Any]] = []
    for mode in view.modes:
        for s in view.iterations(mode):
            counts.append([mode.value, s.iteration, s.trained_on, s.probed, s.mastered, s.mismatched,
                         ", ".join(f"{k} {v}" for k, v in sorted(s.verdicts.items())), s.relabeled,
                         s.error_seeds, f"{s.expansions_accepted}/{s.expansions_asked}", s.next_size,
                         ", ".join(f"{st.stage} {fmt_seconds(st.seconds)}" for st in s.stage_times)])
    if counts:
        parts += [tag("h2", "Iterations (", link(f"{base}/composition", "composition with links"), ")"),
                  table(["mode", "iter", "trained on", "probed", "mastered", "mismatched", "verdicts", "relabeled",
                         "error seeds", "expansions", "next size", "wall time per stage"], counts)]
    return parts


def composition_page(base: str, run: RunFolder, index: SampleIndex) -> Safe:
    """Per mode and iteration: D_j, verdicts and D_{j+1} by origin, each count a link to its samples."""
    folders = run.iterations()
    if not folders:
        return tag("p", "This run has no loop iterations (no <mode>/iter_<j>/ folders).")
    rows = []
    for folder in folders:
        mode, iteration = folder.mode.value, folder.iteration

        def count(wanted: SampleFilter) -> Safe:
            found = len(index.filter(wanted))
            query = {k: v for k, v in vars(wanted).items() if v not in ("", None)}
            return link(url(f"{base}/samples", **query), str(found)) if found else Safe("0")

        verdicts = Counter(v[2] for row in index.rows.values() for v in row.verdicts if v[0] == mode and v[1] == iteration)
        rows.append([
            folder.label,
            count(SampleFilter(mode=mode, iteration=iteration, set="data")),
            join([join([tag("span", verdict, " "), count(SampleFilter(mode=mode, iteration=iteration, verdict=verdict)), " "])
                  for verdict in VERDICTS if verdicts.get(verdict)]) or "-",
            count(SampleFilter(mode=mode, iteration=iteration, origin="relabeled", set="judged")),
            count(SampleFilter(mode=mode, iteration=iteration, set="expansions")),
            *(count(SampleFilter(mode=mode, iteration=iteration, set="next", part=part)) for part in PARTS),
            count(SampleFilter(mode=mode, iteration=iteration, set="next")),
            _composition_file(folder.path / "compose" / "composition.json"),
        ])
    return join([
        tag("p", "D_j is what iteration j trained on; D_{j+1} is what it composed for the next (the paper's "
                 "Table 3): error seeds (label confirmed, or the relabeled copy), accepted expansions, "
                 "mastered high-perplexity samples, fresh seed samples.", cls="meta"),
        table(["iteration", "D_j", "verdicts", "relabels made", "expansions accepted", "D_{j+1}: error seeds",
               "expansions", "high PPL", "fresh", "total", "composition.json"], rows),
    ])


def _composition_file(path: Path) -> str:
    """The counts ``compose`` recorded (a check on the linked counts)."""
    try:
        counts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "-"
    if not isinstance(counts, dict):
        return "-"
    return ", ".join(f"{key} {counts[key]}" for key in ("budget", *PARTS, "cut_over_budget") if key in counts)


def benchmark_tables(base: str, cells: list[Cell]) -> Safe:
    parts = []
    for benchmark, (columns, rows) in score_grid(cells).items():
        head = ["row", *(cell.column + ("" if cell.complete is not False else " (incomplete)") for cell in columns)]
        body = [[name, *(link(f"{base}/cell/{seg(cell.key)}", fmt_percent(scores[cell.key])) if cell.key in scores else "-"
                         for cell in columns)] for name, scores in rows]
        parts += [tag("h3", benchmark), table(head, body)]
    return join(parts)


def benchmarks_page(base: str, cells: list[Cell]) -> Safe:
    if not cells:
        return tag("p", "No benchmark cells in this run (no cells/<model>__<mode>/<benchmark>/cell.json).")
    return benchmark_tables(base, cells)


def cell_page(base: str, cell: Cell, scores: list[Any]) -> Safe:
    rows = [[link(f"{base}/cell/{seg(cell.key)}/{seg(s.entry_id)}", s.entry_id), s.category, f"{s.score:g}",
             str(s.valid), str(s.details.get("error_type", ""))] for s in scores]
    return join([tag("p", cell.key, cls="meta"), table(["entry", "category", "score", "valid", "checker"], rows)])


def entry_page(cell: Cell, output: Any, score: Any) -> Safe:
    parts: list[Any] = [tag("p", cell.key, cls="meta")]
    if score is not None:
        parts += [tag("h2", "Checker verdict"),
                  table(["score", "valid", "details"], [[f"{score.score:g}", str(score.valid), pre(score.details)]])]
    if output is None:
        parts.append(tag("p", "No stored output for this entry."))
        return join(parts)
    parts.append(tag("h2", "Model output"))
    for number, turn in enumerate(output.turns, start=1):
        for reply in turn.replies:
            calls = "; ".join(f"{c.name}({json.dumps(c.arguments, ensure_ascii=False)})" for c in reply.tool_calls)
            parts.append(tag("div", tag("div", f"turn {number}", cls="meta"), pre(reply.raw or reply.text or ""),
                             pre(calls) if calls else "", cls="msg assistant"))
    if output.error:
        parts.append(tag("div", output.error, cls="panel"))
    return join(parts)
