"""The run browser's pages, rendered on the server from the run folder's files.

Each function takes what it shows and returns the page body as :class:`Safe` markup; all
model-written text goes through the escaping builder of :mod:`looptool.view.html`.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from looptool.loop.lineage import LineageStep, StepKind
from looptool.loop.report import RunView
from looptool.traces import TraceEvent, TraceInfo, TraceSummary
from looptool.view.cells import Cell, score_grid
from looptool.view.charts import line_chart
from looptool.view.html import Safe, join, link, pre, seg, table, tag, url
from looptool.view.rejects import RejectGroup
from looptool.view.runfolder import RunFolder, StageState, StageStatus
from looptool.view.samples import PARTS, SETS, SampleFilter, SampleIndex, SampleRow, label_text
from looptool.view.tracequery import TraceFilter, TraceRow

PAGE_SIZE = 100
#: A model call's prompt is shown unfolded up to this size (longer ones: one click).
OPEN_PROMPT_CHARS = 4000
ORIGINS = ("seed", "imported", "expanded", "relabeled", "prediction_wrong", "high_ppl", "dialogue")
VERDICTS = ("PRED_WRONG", "LABEL_WRONG", "BOTH_CORRECT", "BOTH_WRONG", "UNDECIDED", "UNJUDGED")


def nav(base: str, run: RunFolder, several: bool) -> Safe:
    items = [tag("b", run.label)]
    if several:
        items.append(link("/", "all runs"))
    for path, name in (("", "overview"), ("composition", "composition"), ("samples", "samples"),
                       ("traces", "traces"), ("rejects", "rejects"), ("benchmarks", "benchmarks")):
        items.append(link(f"{base}/{path}", name))
    return join(items)


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _stage_cell(state: StageState) -> Safe:
    css = {StageStatus.DONE: "ok", StageStatus.RUNNING: "running", StageStatus.PENDING: "meta"}[state.status]
    return tag("span", f"{state.status.value} {_seconds(state.seconds)}".strip(), cls=css)


# ---------------------------------------------------------------- runs and overview


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
        parts += [tag("h2", "Stages"), table(["stage", "status"], [[s.name, _stage_cell(s)] for s in top])]
    iterations = run.iterations()
    if iterations:
        rows = [[folder.label, *(_stage_cell(state) for state in run.iteration_stages(folder))]
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
        rows = [["base", "0", _percent(report.base_heldout_accuracy),
                 ", ".join(f"{k} {_percent(v)}" for k, v in sorted(report.base_benchmark_accuracy.items()))]]
        for mode in view.modes:
            for s in view.iterations(mode):
                rows.append([mode.value, str(s.iteration), _percent(s.heldout_accuracy),
                             ", ".join(f"{k} {_percent(v)}" for k, v in sorted(s.benchmark_accuracy.items()))])
        parts.append(table(["mode", "iteration", "held-out ToolMatch", "benchmarks"], rows))
    counts: list[list[Any]] = []
    for mode in view.modes:
        for s in view.iterations(mode):
            counts.append([mode.value, s.iteration, s.trained_on, s.probed, s.mastered, s.mismatched,
                         ", ".join(f"{k} {v}" for k, v in sorted(s.verdicts.items())), s.relabeled,
                         s.error_seeds, f"{s.expansions_accepted}/{s.expansions_asked}", s.next_size,
                         ", ".join(f"{st.stage} {_seconds(st.seconds)}" for st in s.stage_times)])
    if counts:
        parts += [tag("h2", "Iterations (", link(f"{base}/composition", "composition with links"), ")"),
                  table(["mode", "iter", "trained on", "probed", "mastered", "mismatched", "verdicts", "relabeled",
                         "error seeds", "expansions", "next size", "wall time per stage"], counts)]
    return parts


# ---------------------------------------------------------------- composition


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


# ---------------------------------------------------------------- samples


def _composition_file(path: Path) -> str:
    """The counts ``compose`` recorded (a check on the linked counts)."""
    try:
        counts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "-"
    if not isinstance(counts, dict):
        return "-"
    return ", ".join(f"{key} {counts[key]}" for key in ("budget", *PARTS, "cut_over_budget") if key in counts)


def _select(name: str, value: str, options: list[str]) -> Safe:
    return tag("label", name, tag("select", tag("option", "any", value=""),
                                  *(tag("option", option, value=option, selected=option == value) for option in options),
                                  name=name))


def samples_page(base: str, index: SampleIndex, wanted: SampleFilter, page: int) -> Safe:
    found = index.filter(wanted)
    modes = sorted({p.mode for row in index.rows.values() for p in row.places if p.mode})
    tools = sorted({tool for row in index.rows.values() for tool in row.tools})
    form = tag(
        "form",
        _select("mode", wanted.mode, modes),
        tag("label", "iteration", tag("input", name="iteration", size="3",
                                      value="" if wanted.iteration is None else str(wanted.iteration))),
        _select("set", wanted.set, list(SETS)), _select("part", wanted.part, list(PARTS)),
        _select("origin", wanted.origin, list(ORIGINS)),
        _select("verdict", wanted.verdict, list(VERDICTS)), _select("tool", wanted.tool, tools),
        _select("status", wanted.status, ["accepted", "rejected"]),
        tag("label", "text", tag("input", name="q", value=wanted.q, size="24")),
        tag("button", "filter", type="submit"),
        method="get", action=f"{base}/samples", cls="filters",
    )
    shown = found[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    rows = [[link(f"{base}/sample/{seg(row.id)}", row.id), row.origin, row.status,
             ", ".join(sorted({f"{p.mode + '/' if p.mode else ''}{p.set}{'@' + str(p.iteration) if p.iteration else ''}"
                               f"{' (' + p.part + ')' if p.part else ''}" for p in row.places})),
             ", ".join(f"{v[2]}@{v[1]}" for v in row.verdicts), row.label[:160] or "; ".join(row.reasons)[:160]]
            for row in shown]
    query = {k: v for k, v in vars(wanted).items() if v not in ("", None)}
    pager = []
    if page > 0:
        pager.append(link(url(f"{base}/samples", **query, page=page - 1), "previous"))
    if (page + 1) * PAGE_SIZE < len(found):
        pager.append(link(url(f"{base}/samples", **query, page=page + 1), "next"))
    return join([form, tag("p", f"{len(found)} of {len(index.rows)} samples", cls="meta"),
                 table(["id", "origin", "status", "in", "verdicts", "label / reasons"], rows), tag("p", *pager)])


def _message(message: dict[str, Any]) -> Safe:
    role = str(message.get("role", ""))
    calls = message.get("tool_calls") or []
    body: list[Any] = [tag("div", role, f" ({message['name']})" if message.get("name") else "", cls="meta")]
    if message.get("reasoning"):
        body.append(tag("details", tag("summary", "reasoning"), pre(str(message["reasoning"]))))
    if message.get("content"):
        body.append(pre(str(message["content"])))
    if calls:
        body.append(pre("\n".join(f"{c.get('name')}({json.dumps(c.get('arguments', {}), ensure_ascii=False)})"
                                  for c in calls if isinstance(c, dict))))
    return tag("div", *body, cls=f"msg {role}")


def _trace_link(base: str, links: dict[str, str], trace_id: str, text: str | None = None) -> Safe:
    store = links.get(trace_id)
    if store is None:
        return Safe("")
    return link(f"{base}/trace/{seg(store)}/{seg(trace_id)}", text or f"trace {trace_id}")


def lineage_tree(base: str, steps: list[LineageStep], known: set[str]) -> Safe:
    """The history as nested lists: each sample's steps under it, parents one level deeper."""

    def sample_link(sample_id: str | None) -> Safe:
        if not sample_id:
            return Safe("")
        return link(f"{base}/sample/{seg(sample_id)}", sample_id) if sample_id in known else Safe(sample_id)

    html_parts: list[str] = []
    depth = 0
    html_parts.append("<ul class='tree'>")
    for step in steps:
        while step.depth > depth:
            html_parts.append("<ul class='tree'>")
            depth += 1
        while step.depth < depth:
            html_parts.append("</ul>")
            depth -= 1
        where = f"{step.mode.value} iteration {step.iteration}: " if step.mode is not None else ""
        item = [tag("b", step.kind.value), " ", where, step.summary]
        if step.kind in (StepKind.PARENT, StepKind.RELABELED_AS, StepKind.EXPANDED_INTO, StepKind.DERIVED,
                         StepKind.ORIGIN, StepKind.JUDGED) and step.related_id:
            label = {StepKind.PARENT: "parent", StepKind.ORIGIN: "parent", StepKind.RELABELED_AS: "relabeled copy",
                     StepKind.EXPANDED_INTO: "expansion", StepKind.JUDGED: "new sample"}.get(step.kind, "related")
            target = step.sample_id if step.kind is StepKind.PARENT else step.related_id
            item += [" ", tag("span", f"[{label}: ", sample_link(target), "]", cls="lineage-link")]
        if step.place:
            item.append(tag("span", " ", step.place, cls="meta"))
        html_parts.append(tag("li", *item, *(tag("div", note, cls="meta") for note in step.notes)))
    html_parts.append("</ul>" * (depth + 1))
    return Safe("".join(html_parts))


def sample_page(base: str, sample_id: str, data: dict[str, Any], row: SampleRow | None,
                probes: list[tuple[str, dict[str, Any]]], judgements: list[tuple[str, dict[str, Any]]],
                steps: list[LineageStep], children: list[str], known: set[str], links: dict[str, str]) -> Safe:
    lineage = data.get("lineage") if isinstance(data.get("lineage"), dict) else {}
    assert isinstance(lineage, dict)
    parts: list[Any] = []
    facts: list[list[Any]] = [["origin", str(lineage.get("origin", row.origin if row else ""))],
             ["status", row.status if row else ""],
             ["iteration / stage", f"{lineage.get('iteration', '')} / {lineage.get('stage', '')}"]]
    if lineage.get("parent_id"):
        parent = str(lineage["parent_id"])
        facts.append(["parent", link(f"{base}/sample/{seg(parent)}", parent) if parent in known else parent])
    if lineage.get("dialogue_id"):
        dialogue_id = str(lineage["dialogue_id"])
        facts.append(["dialogue", _trace_link(base, links, dialogue_id, dialogue_id) or dialogue_id])
    if children:
        facts.append(["made from it", join([link(f"{base}/sample/{seg(child)}", child) for child in children], ", ")])
    if row and row.reasons:
        facts.append(["reasons", tag("ul", *(tag("li", reason) for reason in row.reasons))])
    parts.append(table(None, facts))
    dialogue = data.get("dialogue")
    messages = data.get("context") or (dialogue.get("messages") if isinstance(dialogue, dict) else []) or []
    parts += [tag("h2", "Context"), *(_message(m) for m in messages if isinstance(m, dict))]
    if "label_calls" in data or "label_text" in data:
        parts += [tag("h2", "Label"), pre(label_text(data) or "(empty)")]
    relabel = (data.get("metadata") or {}).get("relabel") if isinstance(data.get("metadata"), dict) else None
    if isinstance(relabel, dict):
        parts += [tag("h2", "Old label (before JGLV relabeled it)"),
                  tag("div", pre(label_text(relabel) or "(empty)"), cls="old-label"),
                  tag("p", "verdict ", tag("b", str(relabel.get("verdict", ""))), " at iteration ",
                      str(relabel.get("iteration", "")), ": ", str(relabel.get("analysis", "")))]
    for where, probe in probes:
        calls = probe.get("predicted_calls") or []
        prediction = "; ".join(f"{c.get('name')}({json.dumps(c.get('arguments', {}), ensure_ascii=False)})"
                               for c in calls if isinstance(c, dict)) or str(probe.get("predicted_text") or "")
        heading = "Prediction judged against" if not probe.get("matched") else "Probe: the policy's prediction"
        parts += [tag("h2", f"{heading} ({where})"),
                  table(["matched", "perplexity", "parse error", "prediction"],
                        [[str(probe.get("matched")), str(probe.get("perplexity")), str(probe.get("parse_error") or ""),
                          pre(prediction)]]),
                  tag("details", tag("summary", "raw completion"), pre(str(probe.get("completion", ""))))]
    for where, judged in judgements:
        iteration = where.rsplit("_", 1)[-1]
        subject = str(judged.get("sample_id"))
        trace = _trace_link(base, links, f"jglv:{iteration}:{subject}", "judge trace (step by step)")
        new_id = judged.get("new_sample_id")
        parts += [tag("h2", f"Verdict ({where})"),
                  table(["verdict", "decided by", "action", "reason", "new sample", "trace"],
                        [[tag("b", str(judged.get("verdict")), cls="verdict"), str(judged.get("decided_by")),
                          str(judged.get("action")), str(judged.get("reason") or ""),
                          link(f"{base}/sample/{seg(str(new_id))}", str(new_id)) if new_id and new_id in known else str(new_id or ""),
                          trace]]),
                  tag("h3", "Analysis"), pre(str(judged.get("analysis") or "(none)"))]
    other = [trace_id for trace_id in links if trace_id.startswith("edde:") or trace_id == sample_id]
    if other:
        parts += [tag("h2", "Other traces"), tag("ul", *(tag("li", _trace_link(base, links, t)) for t in other))]
    if steps:
        parts += [tag("h2", "Lineage"), lineage_tree(base, steps, known)]
    tools = data.get("tools") or (dialogue.get("tools") if isinstance(dialogue, dict) else []) or []
    parts.append(tag("details", tag("summary", f"{len(tools)} tools offered"), pre(tools)))
    return join(parts)


# ---------------------------------------------------------------- traces


def traces_page(base: str, rows: list[TraceRow], problems: list[str], wanted: TraceFilter, page: int,
                kinds: list[str], stores: int) -> Safe:
    form = tag(
        "form",
        _select("kind", wanted.kind, kinds),
        tag("label", "iteration", tag("input", name="iteration", size="3",
                                      value="" if wanted.iteration is None else str(wanted.iteration))),
        tag("label", "status / verdict", tag("input", name="status", value=wanted.status, size="12")),
        tag("label", "tool", tag("input", name="tool", value=wanted.tool, size="12")),
        tag("label", "sample", tag("input", name="sample", value=wanted.sample, size="16")),
        tag("label", "text", tag("input", name="q", value=wanted.q, size="20")),
        tag("button", "filter", type="submit"), method="get", action=f"{base}/traces", cls="filters",
    )
    shown = rows[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    table_rows = [[link(f"{base}/trace/{seg(r.store)}/{seg(r.info.trace_id)}", r.info.trace_id), r.info.kind,
                   tag("span", r.info.status, cls="bad" if r.status_class() == "rejected" else "ok"),
                   r.info.events, f"{r.info.prompt_tokens}→{r.info.completion_tokens}",
                   _seconds(r.info.duration_s), r.reason[:200], r.store] for r in shown]
    query = {k: v for k, v in vars(wanted).items() if v not in ("", None)}
    pager = []
    if page > 0:
        pager.append(link(url(f"{base}/traces", **query, page=page - 1), "previous"))
    if (page + 1) * PAGE_SIZE < len(rows):
        pager.append(link(url(f"{base}/traces", **query, page=page + 1), "next"))
    notes = [tag("div", problem, cls="panel") for problem in problems]
    if not stores:
        notes.append(tag("div", "This run folder holds no trace store (traces.sqlite). Dialogue synthesis and the "
                                "static pipeline record one; the loop's judge and EDDE stages record theirs only "
                                "when given a store.", cls="notice"))
    return join([*notes, form, tag("p", f"{len(rows)} traces", cls="meta"),
                 table(["trace", "kind", "status", "events", "tokens", "time", "reason", "store"], table_rows),
                 tag("p", *pager)])


def _event(event: TraceEvent) -> Safe:
    data = dict(event.data)
    messages_in = data.pop("messages_in", None)
    head = [tag("b", f"#{event.seq} {event.kind}"), f" node={event.node or '-'} role={event.role or '-'} ",
            tag("span", f"{event.latency_s:.2f} s", cls="meta")]
    if event.prompt_tokens is not None or event.completion_tokens is not None:
        head.append(tag("span", f" tokens {event.prompt_tokens or 0}→{event.completion_tokens or 0}", cls="meta"))
    body: list[Any] = [tag("div", *head)]
    if isinstance(messages_in, list):
        short = len(json.dumps(messages_in, default=str)) <= OPEN_PROMPT_CHARS
        body.append(tag("details", tag("summary", f"prompt ({len(messages_in)} messages)"),
                        *(_message(m) if isinstance(m, dict) else pre(m) for m in messages_in), open=short))
    if event.kind == "verdict":
        body.append(tag("div", "verdict: ", tag("b", event.content or "(no text)"), cls="verdict"))
    elif event.content:
        body.append(pre(event.content))
    if data:
        body.append(pre(data))
    return tag("div", *body, cls=f"event k-{event.kind}")


def trace_page(info: TraceInfo, events: list[TraceEvent], store: str, samples: list[Safe]) -> Safe:
    totals: list[list[Any]] = [["kind", info.kind], ["status", info.status], ["store", store], ["events", info.events],
              ["tokens", f"{info.prompt_tokens}→{info.completion_tokens}"], ["time", _seconds(info.duration_s)]]
    if samples:
        totals.append(["samples", join(samples, ", ")])
    return join([table(None, totals), tag("details", tag("summary", "metadata"), pre(info.metadata), open=True),
                 tag("h2", "Steps"), *(_event(event) for event in events)])


# ---------------------------------------------------------------- rejects and benchmarks


def rejects_page(base: str, groups: list[RejectGroup], links: dict[str, str], known: set[str]) -> Safe:
    if not groups:
        return tag("p", "Nothing was rejected (or nothing was recorded yet).")
    summary = table(["reason", "count", "from"], [[link(f"#g{number}", group.key), len(group.items),
                                                   ", ".join(sorted({item.source for item in group.items}))]
                                                  for number, group in enumerate(groups)])
    sections = []
    for number, group in enumerate(groups):
        rows = [[item.source, item.where, item.reason[:300],
                 _trace_link(base, links, item.trace_id or "", item.trace_id) if item.trace_id else "",
                 link(f"{base}/sample/{seg(item.sample_id)}", item.sample_id)
                 if item.sample_id and item.sample_id in known else (item.sample_id or "")]
                for item in group.items[:200]]
        sections += [tag("h2", group.key, f" ({len(group.items)})", id=f"g{number}"),
                     table(["from", "where", "reason", "trace", "sample"], rows)]
    return join([summary, *sections])


def benchmark_tables(base: str, cells: list[Cell]) -> Safe:
    parts = []
    for benchmark, (columns, rows) in score_grid(cells).items():
        head = ["row", *(cell.column + ("" if cell.complete is not False else " (incomplete)") for cell in columns)]
        body = [[name, *(link(f"{base}/cell/{seg(cell.key)}", _percent(scores[cell.key])) if cell.key in scores else "-"
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


def error_page_body(message: str) -> Safe:
    return tag("div", message, cls="panel")

