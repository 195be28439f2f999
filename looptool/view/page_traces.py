"""Agent traces (list and step by step) and everything rejected, grouped by reason."""

from __future__ import annotations

import json
from typing import Any

from looptool.traces import TraceEvent, TraceInfo
from looptool.view.html import Safe, join, link, pre, seg, table, tag, url
from looptool.view.page_parts import (
    OPEN_PROMPT_CHARS,
    PAGE_SIZE,
    fmt_seconds,
    message_block,
    select,
    trace_link,
)
from looptool.view.rejects import RejectGroup
from looptool.view.tracequery import TraceFilter, TraceRow


def traces_page(base: str, rows: list[TraceRow], problems: list[str], wanted: TraceFilter, page: int,
                kinds: list[str], stores: int) -> Safe:
    form = tag(
        "form",
        select("kind", wanted.kind, kinds),
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
                   fmt_seconds(r.info.duration_s), r.reason[:200], r.store] for r in shown]
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
                        *(message_block(m) if isinstance(m, dict) else pre(m) for m in messages_in), open=short))
    if event.kind == "verdict":
        body.append(tag("div", "verdict: ", tag("b", event.content or "(no text)"), cls="verdict"))
    elif event.content:
        body.append(pre(event.content))
    if data:
        body.append(pre(data))
    return tag("div", *body, cls=f"event k-{event.kind}")


def trace_page(info: TraceInfo, events: list[TraceEvent], store: str, samples: list[Safe]) -> Safe:
    totals: list[list[Any]] = [["kind", info.kind], ["status", info.status], ["store", store], ["events", info.events],
              ["tokens", f"{info.prompt_tokens}→{info.completion_tokens}"], ["time", fmt_seconds(info.duration_s)]]
    if samples:
        totals.append(["samples", join(samples, ", ")])
    return join([table(None, totals), tag("details", tag("summary", "metadata"), pre(info.metadata), open=True),
                 tag("h2", "Steps"), *(_event(event) for event in events)])


def rejects_page(base: str, groups: list[RejectGroup], links: dict[str, str], known: set[str]) -> Safe:
    if not groups:
        return tag("p", "Nothing was rejected (or nothing was recorded yet).")
    summary = table(["reason", "count", "from"], [[link(f"#g{number}", group.key), len(group.items),
                                                   ", ".join(sorted({item.source for item in group.items}))]
                                                  for number, group in enumerate(groups)])
    sections = []
    for number, group in enumerate(groups):
        rows = [[item.source, item.where, item.reason[:300],
                 trace_link(base, links, item.trace_id or "", item.trace_id) if item.trace_id else "",
                 link(f"{base}/sample/{seg(item.sample_id)}", item.sample_id)
                 if item.sample_id and item.sample_id in known else (item.sample_id or "")]
                for item in group.items[:200]]
        sections += [tag("h2", group.key, f" ({len(group.items)})", id=f"g{number}"),
                     table(["from", "where", "reason", "trace", "sample"], rows)]
    return join([summary, *sections])
