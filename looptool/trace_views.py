"""Views of a trace store: the terminal (rich) and a static, self-contained HTML page.

:func:`render_summary` prints a store's totals and its latest traces, :func:`render_trace`
one trace event by event; :func:`write_html` writes the page ``looptool traces html`` opens.
The store itself is :mod:`looptool.traces`.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from looptool.jsonl import write_text_atomic
from looptool.traces import TraceEvent, TraceInfo, TraceStore

# ---------------------------------------------------------------------- shared

def _json_text(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)


def _event_label(event: TraceEvent) -> str:
    parts = [event.kind]
    if event.node:
        parts.append(f"node={event.node}")
    if event.role:
        parts.append(f"role={event.role}")
    return " ".join(parts)


def _event_detail(event: TraceEvent) -> str:
    extras = {key: value for key, value in event.data.items() if key != "messages_in"}
    text = event.content
    if extras:
        text = (text + "\n" if text else "") + _json_text(extras)
    return text


def _tokens_text(event: TraceEvent) -> str:
    if event.prompt_tokens is None and event.completion_tokens is None:
        return ""
    return f"{event.prompt_tokens or 0}→{event.completion_tokens or 0}"


# ---------------------------------------------------------------------- terminal

_KIND_STYLE = {
    "node": "bold cyan",
    "llm_call": "magenta",
    "message": "white",
    "tool_call": "yellow",
    "tool_result": "green",
    "verdict": "bold blue",
    "error": "bold red",
    "note": "dim",
}

_STATUS_STYLE = {"accepted": "green", "rejected": "yellow", "failed": "red", "running": "cyan"}


def render_summary(store: TraceStore, console: Console, *, limit: int = 50) -> None:
    """Print a store's totals and its most recent traces (rich)."""
    summary = store.summary()
    console.print(
        f"[bold]{store.path}[/bold]: {summary.traces} traces "
        + ", ".join(f"{status}={count}" for status, count in sorted(summary.by_status.items()))
    )
    if summary.roles:
        roles = Table(title="model calls by role")
        for column in ("role", "calls", "prompt tok", "completion tok", "mean latency s"):
            roles.add_column(column)
        for stats in summary.roles:
            roles.add_row(
                stats.role,
                str(stats.calls),
                str(stats.prompt_tokens),
                str(stats.completion_tokens),
                f"{stats.mean_latency_s:.2f}",
            )
        console.print(roles)
    infos = store.traces()
    table = Table(title=f"traces (last {min(limit, len(infos))} of {len(infos)})")
    for column in ("id", "kind", "status", "events", "tokens", "seconds", "reason"):
        table.add_column(column, overflow="fold")
    for info in infos[-limit:] if limit > 0 else []:
        style = _STATUS_STYLE.get(info.status, "")
        duration = info.duration_s
        table.add_row(
            info.trace_id,
            info.kind,
            f"[{style}]{info.status}[/{style}]" if style else info.status,
            str(info.events),
            f"{info.prompt_tokens}→{info.completion_tokens}",
            "" if duration is None else f"{duration:.1f}",
            str(info.metadata.get("reason", ""))[:120],
        )
    console.print(table)


def render_trace(store: TraceStore, trace_id: str, console: Console, *, width: int = 400) -> None:
    """Print one trace as a table of its events (rich). Raises KeyError when unknown."""
    info = store.trace(trace_id)
    if info is None:
        known = [item.trace_id for item in store.traces(limit=5)]
        raise KeyError(f"no trace {trace_id!r} in {store.path} (e.g. {', '.join(known) or 'none'})")
    style = _STATUS_STYLE.get(info.status, "")
    console.print(
        f"[bold]{escape(info.trace_id)}[/bold] ({info.kind}) "
        f"[{style or 'white'}]{info.status}[/{style or 'white'}] — {info.events} events, "
        f"tokens {info.prompt_tokens}→{info.completion_tokens}"
    )
    if info.metadata:
        console.print(escape(_json_text(info.metadata))[: width * 4])
    table = Table(show_lines=True)
    for column in ("#", "event", "s", "tokens", "detail"):
        table.add_column(column, overflow="fold")
    for event in store.events(trace_id):
        kind_style = _KIND_STYLE.get(event.kind, "")
        detail = _event_detail(event)
        if len(detail) > width:
            detail = detail[:width] + f" … (+{len(detail) - width} chars)"
        table.add_row(
            str(event.seq),
            f"[{kind_style}]{escape(_event_label(event))}[/{kind_style}]" if kind_style else escape(_event_label(event)),
            f"{event.latency_s:.2f}",
            _tokens_text(event),
            escape(detail),
        )
    console.print(table)


# ---------------------------------------------------------------------- HTML

_HTML_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LoopTool traces: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }}
h1 {{ font-size: 1.3rem; }} table {{ border-collapse: collapse; margin: .5rem 0; }}
td, th {{ border: 1px solid #ccc; padding: .25rem .5rem; vertical-align: top; font-size: .85rem; }}
th {{ background: #f3f3f3; }} pre {{ white-space: pre-wrap; margin: 0; max-width: 90ch; }}
details {{ border: 1px solid #ddd; border-radius: 4px; margin: .4rem 0; padding: .3rem .6rem; }}
summary {{ cursor: pointer; }} .accepted {{ color: #17803d; }} .rejected {{ color: #b36b00; }}
.failed {{ color: #c00; }} .running {{ color: #06c; }} .k-error {{ background: #fee; }}
.k-verdict {{ background: #eef4ff; }} .k-tool_call {{ background: #fffbe6; }}
.k-tool_result {{ background: #efe; }} .k-node {{ color: #555; }}
#filter {{ padding: .3rem; width: 30ch; }}
</style>
<script>
function filterTraces(text) {{
  const needle = text.toLowerCase();
  document.querySelectorAll('details.trace').forEach(d => {{
    d.style.display = d.dataset.search.includes(needle) ? '' : 'none';
  }});
}}
</script></head><body>
"""


def _html_summary(store: TraceStore) -> str:
    summary = store.summary()
    rows = "".join(
        f"<tr><td>{html.escape(stats.role)}</td><td>{stats.calls}</td><td>{stats.prompt_tokens}</td>"
        f"<td>{stats.completion_tokens}</td><td>{stats.mean_latency_s:.2f}</td></tr>"
        for stats in summary.roles
    )
    statuses = ", ".join(
        f'<span class="{html.escape(status)}">{html.escape(status)}: {count}</span>'
        for status, count in sorted(summary.by_status.items())
    )
    return (
        f"<p>{summary.traces} traces — {statuses}</p>"
        "<table><tr><th>role</th><th>model calls</th><th>prompt tokens</th>"
        f"<th>completion tokens</th><th>mean latency s</th></tr>{rows}</table>"
    )


def _html_trace(store: TraceStore, info: TraceInfo) -> str:
    rows = []
    for event in store.events(info.trace_id):
        data = dict(event.data)
        messages_in = data.pop("messages_in", None)
        detail = html.escape(event.content)
        if data:
            detail += ("\n" if detail else "") + html.escape(json.dumps(data, indent=1, ensure_ascii=False, default=str))
        prompt_html = ""
        if messages_in:
            prompt_html = (
                "<details><summary>prompt</summary><pre>"
                + html.escape(json.dumps(messages_in, indent=1, ensure_ascii=False, default=str))
                + "</pre></details>"
            )
        rows.append(
            f'<tr class="k-{html.escape(event.kind)}"><td>{event.seq}</td>'
            f"<td>{html.escape(_event_label(event))}</td><td>{event.latency_s:.2f}</td>"
            f"<td>{_tokens_text(event)}</td><td>{prompt_html}<pre>{detail}</pre></td></tr>"
        )
    reason = html.escape(str(info.metadata.get("reason", "")))
    search = html.escape(f"{info.trace_id} {info.status} {info.kind} {reason}".lower(), quote=True)
    return (
        f'<details class="trace" data-search="{search}"><summary><b>{html.escape(info.trace_id)}</b> '
        f'<span class="{html.escape(info.status)}">{html.escape(info.status)}</span> '
        f"({html.escape(info.kind)}, {info.events} events, tokens {info.prompt_tokens}→"
        f"{info.completion_tokens}) {reason[:160]}</summary>"
        f"<pre>{html.escape(json.dumps(info.metadata, indent=1, ensure_ascii=False, default=str))}</pre>"
        "<table><tr><th>#</th><th>event</th><th>s</th><th>tokens</th><th>detail</th></tr>"
        + "".join(rows)
        + "</table></details>"
    )


def write_html(
    store: TraceStore,
    path: str | Path,
    *,
    title: str | None = None,
    limit: int | None = None,
    status: str | None = None,
) -> Path:
    """Write a static, self-contained HTML viewer of the traces in ``store`` (optionally only
    one ``status``, and only the last ``limit`` traces)."""
    name = title or str(store.path.parent)
    infos = store.traces(status=status)
    shown = infos if limit is None else infos[-limit:] if limit > 0 else []
    parts = [
        _HTML_HEAD.format(title=html.escape(name)),
        f"<h1>LoopTool traces: {html.escape(name)}</h1>",
        _html_summary(store),
        f"<p>showing {len(shown)} of {len(infos)} traces"
        + (f" with status {html.escape(status)}" if status else "") + "</p>",
        '<p><input id="filter" placeholder="filter by id / status / reason" '
        'oninput="filterTraces(this.value)"></p>',
    ]
    parts.extend(_html_trace(store, info) for info in shown)
    parts.append("</body></html>\n")
    target = Path(path)
    write_text_atomic(target, "\n".join(parts))
    target.chmod(0o644)  # a page for people to open, not a private temp file
    return target
