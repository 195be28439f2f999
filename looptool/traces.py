"""The trace store: every agent step of a run, in one SQLite file in the run folder.

A *trace* is one unit of work (a simulated dialogue, one API-synthesis job, ...) keyed by
its id. Each trace holds ordered *events*: graph-node transitions, messages, model calls,
tool calls and results, verdicts and errors, each with the role that produced it, wall-clock
start/end, latency and token counts. Writers are the coroutines of one process: the store
keeps one connection in WAL mode behind a lock, so concurrent ``await``-interleaved writers
(and threads) never corrupt it, and readers in other processes (``looptool traces show``)
can look while a run is going.

Typical use::

    store = TraceStore.for_run(run.path)
    store.start("dlg-00001", kind="dialogue", metadata={"index": 1})
    with store.span("dlg-00001", EventKind.LLM_CALL, node="assistant", role="generator") as span:
        reply = await model.ainvoke(messages)
        span.content = reply.content
        span.set_usage(reply)
    store.finish("dlg-00001", status="accepted")

:func:`render_trace` shows one trace in the terminal (rich); :func:`write_html` writes a
static, self-contained HTML viewer for humans.
"""

from __future__ import annotations

import html
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

TRACE_FILE = "traces.sqlite"
TRACE_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS traces (
    trace_id   TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at   REAL,
    metadata   TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS events (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id          TEXT NOT NULL,
    seq               INTEGER NOT NULL,
    kind              TEXT NOT NULL,
    node              TEXT,
    role              TEXT,
    started_at        REAL NOT NULL,
    ended_at          REAL NOT NULL,
    latency_s         REAL NOT NULL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    content           TEXT NOT NULL DEFAULT '',
    data              TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_by_trace ON events (trace_id, seq);
CREATE INDEX IF NOT EXISTS traces_by_status ON traces (kind, status);
"""


class TraceStoreError(RuntimeError):
    """The trace file is missing, unreadable or not a LoopTool trace store."""


class EventKind(StrEnum):
    """What an event records."""

    NODE = "node"  # a graph node ran (routing decision in data["goto"])
    LLM_CALL = "llm_call"  # one model call: messages in, reply out, tokens
    MESSAGE = "message"  # a dialogue message was appended
    TOOL_CALL = "tool_call"  # a tool call was issued
    TOOL_RESULT = "tool_result"  # a backend answered (data["error"] when it failed)
    VERDICT = "verdict"  # a validation verdict (rule or judge) with its reason
    ERROR = "error"  # something failed (exception text in content)
    NOTE = "note"  # anything else worth seeing


@dataclass(frozen=True)
class TraceEvent:
    """One recorded event, as read back from the store."""

    trace_id: str
    seq: int
    kind: str
    node: str | None
    role: str | None
    started_at: float
    ended_at: float
    latency_s: float
    prompt_tokens: int | None
    completion_tokens: int | None
    content: str
    data: dict[str, Any]


@dataclass(frozen=True)
class TraceInfo:
    """One trace's header row plus its event and token totals."""

    trace_id: str
    kind: str
    status: str
    started_at: float
    ended_at: float | None
    metadata: dict[str, Any]
    events: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(frozen=True)
class RoleStats:
    """Model-call totals of one role across a store."""

    role: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    mean_latency_s: float


@dataclass(frozen=True)
class TraceSummary:
    """Totals of a store: traces per kind/status, events per kind, model calls per role."""

    traces: int
    by_status: dict[str, int]
    by_kind: dict[str, int]
    events_by_kind: dict[str, int]
    roles: list[RoleStats]


@dataclass
class TokenUsage:
    """Prompt and completion token counts of one model call (None when unknown)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def usage_of(message: Any) -> TokenUsage:
    """Token counts of a langchain ``AIMessage`` (``usage_metadata`` or OpenAI
    ``response_metadata.token_usage``); empty when the server reported none."""
    usage = getattr(message, "usage_metadata", None)
    if isinstance(usage, dict) and usage:
        return TokenUsage(usage.get("input_tokens"), usage.get("output_tokens"))
    metadata = getattr(message, "response_metadata", None) or {}
    raw = metadata.get("token_usage") if isinstance(metadata, dict) else None
    if isinstance(raw, dict):
        return TokenUsage(raw.get("prompt_tokens"), raw.get("completion_tokens"))
    return TokenUsage()


def usage_of_error(error: BaseException) -> TokenUsage:
    """Token counts an error still carries: openai's ``LengthFinishReasonError`` (a structured
    reply cut off at ``max_tokens``) keeps the completion, and the server did the work."""
    usage = getattr(getattr(error, "completion", None), "usage", None)
    if usage is None:
        return TokenUsage()
    return TokenUsage(getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None))


@dataclass
class Span:
    """A timed event being recorded; fill its fields inside ``with store.span(...)``."""

    trace_id: str
    kind: EventKind | str
    node: str | None = None
    role: str | None = None
    content: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    usage: TokenUsage = field(default_factory=TokenUsage)
    started_at: float = field(default_factory=time.time)

    def set_usage(self, message: Any) -> None:
        """Take token counts from a langchain message (see :func:`usage_of`)."""
        self.usage = usage_of(message)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)


def _loads(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}


class TraceStore:
    """SQLite-backed trace store; one instance per process and file, shared by coroutines."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.readonly = readonly
        if readonly:
            if not self.path.is_file():
                raise TraceStoreError(f"{self.path}: no trace store here")
            # a plain connection (not mode=ro): read-only opens of a WAL file fail when its
            # -shm file is gone; this handle only ever reads.
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
            try:
                self._conn.execute("SELECT 1 FROM traces LIMIT 1")
            except sqlite3.DatabaseError as error:
                self._conn.close()
                raise TraceStoreError(f"{self.path}: not a LoopTool trace store ({error})") from None
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            self._conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(TRACE_SCHEMA_VERSION),),
            )
            self._conn.commit()
        except sqlite3.DatabaseError as error:
            self._conn.close()
            raise TraceStoreError(f"{self.path}: not a LoopTool trace store ({error})") from None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def for_run(cls, run_dir: str | Path, *, readonly: bool = False) -> TraceStore:
        """The store ``<run_dir>/traces.sqlite`` (created unless ``readonly``)."""
        return cls(Path(run_dir) / TRACE_FILE, readonly=readonly)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def start(
        self,
        trace_id: str,
        *,
        kind: str = "dialogue",
        metadata: dict[str, Any] | None = None,
        reset: bool = True,
    ) -> None:
        """Open (or re-open) a trace. ``reset`` drops events of an earlier, unfinished
        attempt with the same id, so a resumed run does not mix two attempts."""
        with self._lock:
            if reset:
                self._conn.execute("DELETE FROM events WHERE trace_id = ?", (trace_id,))
            self._conn.execute(
                "INSERT INTO traces (trace_id, kind, status, started_at, ended_at, metadata) "
                "VALUES (?, ?, 'running', ?, NULL, ?) "
                "ON CONFLICT(trace_id) DO UPDATE SET kind=excluded.kind, status='running', "
                "started_at=excluded.started_at, ended_at=NULL, metadata=excluded.metadata",
                (trace_id, kind, time.time(), _dumps(metadata or {})),
            )
            self._conn.commit()

    def finish(self, trace_id: str, status: str, *, metadata: dict[str, Any] | None = None) -> None:
        """Close a trace with its final status; ``metadata`` is merged into the header."""
        with self._lock:
            row = self._conn.execute(
                "SELECT metadata FROM traces WHERE trace_id = ?", (trace_id,)
            ).fetchone()
            merged = _loads(row[0]) if row else {}
            merged.update(metadata or {})
            if row is None:
                self._conn.execute(
                    "INSERT INTO traces (trace_id, kind, status, started_at, ended_at, metadata) "
                    "VALUES (?, 'unknown', ?, ?, ?, ?)",
                    (trace_id, status, time.time(), time.time(), _dumps(merged)),
                )
            else:
                self._conn.execute(
                    "UPDATE traces SET status = ?, ended_at = ?, metadata = ? WHERE trace_id = ?",
                    (status, time.time(), _dumps(merged), trace_id),
                )
            self._conn.commit()

    def record(
        self,
        trace_id: str,
        kind: EventKind | str,
        *,
        node: str | None = None,
        role: str | None = None,
        content: str = "",
        data: dict[str, Any] | None = None,
        started_at: float | None = None,
        ended_at: float | None = None,
        usage: TokenUsage | None = None,
    ) -> int:
        """Append one event; returns its sequence number within the trace."""
        now = time.time()
        end = now if ended_at is None else ended_at
        begin = end if started_at is None else started_at
        tokens = usage or TokenUsage()
        with self._lock:
            (seq,) = self._conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE trace_id = ?", (trace_id,)
            ).fetchone()
            self._conn.execute(
                "INSERT INTO events (trace_id, seq, kind, node, role, started_at, ended_at, "
                "latency_s, prompt_tokens, completion_tokens, content, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    trace_id,
                    seq,
                    str(kind),
                    node,
                    role,
                    begin,
                    end,
                    max(0.0, end - begin),
                    tokens.prompt_tokens,
                    tokens.completion_tokens,
                    content,
                    _dumps(data or {}),
                ),
            )
            self._conn.commit()
        return int(seq)

    @contextmanager
    def span(
        self,
        trace_id: str,
        kind: EventKind | str,
        *,
        node: str | None = None,
        role: str | None = None,
    ) -> Iterator[Span]:
        """Time a block and record it as one event when it ends. If the block raises, the
        event is still recorded, with ``data["error"]`` set, and the exception propagates."""
        span = Span(trace_id=trace_id, kind=kind, node=node, role=role)
        try:
            yield span
        except BaseException as error:
            span.data["error"] = f"{type(error).__name__}: {error}"
            raise
        finally:
            self.record(
                trace_id,
                span.kind,
                node=span.node,
                role=span.role,
                content=span.content,
                data=span.data,
                started_at=span.started_at,
                usage=span.usage,
            )

    # ------------------------------------------------------------------ reading

    def events(self, trace_id: str, *, kind: EventKind | str | None = None) -> list[TraceEvent]:
        """A trace's events in order (optionally only one kind)."""
        query = (
            "SELECT trace_id, seq, kind, node, role, started_at, ended_at, latency_s, "
            "prompt_tokens, completion_tokens, content, data FROM events WHERE trace_id = ?"
        )
        params: list[Any] = [trace_id]
        if kind is not None:
            query += " AND kind = ?"
            params.append(str(kind))
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY seq", params).fetchall()
        return [
            TraceEvent(
                trace_id=row[0],
                seq=row[1],
                kind=row[2],
                node=row[3],
                role=row[4],
                started_at=row[5],
                ended_at=row[6],
                latency_s=row[7],
                prompt_tokens=row[8],
                completion_tokens=row[9],
                content=row[10],
                data=_loads(row[11]),
            )
            for row in rows
        ]

    def trace(self, trace_id: str) -> TraceInfo | None:
        found = self.traces(trace_ids=[trace_id])
        return found[0] if found else None

    def traces(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        trace_ids: list[str] | None = None,
        limit: int | None = None,
    ) -> list[TraceInfo]:
        """Trace headers with event/token totals, oldest first, optionally filtered."""
        query = (
            "SELECT t.trace_id, t.kind, t.status, t.started_at, t.ended_at, t.metadata, "
            "COUNT(e.id), COALESCE(SUM(e.prompt_tokens), 0), COALESCE(SUM(e.completion_tokens), 0) "
            "FROM traces t LEFT JOIN events e ON e.trace_id = t.trace_id"
        )
        where: list[str] = []
        params: list[Any] = []
        if kind is not None:
            where.append("t.kind = ?")
            params.append(kind)
        if status is not None:
            where.append("t.status = ?")
            params.append(status)
        if trace_ids is not None:
            where.append(f"t.trace_id IN ({','.join('?' * len(trace_ids))})")
            params.extend(trace_ids)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " GROUP BY t.trace_id ORDER BY t.started_at, t.trace_id"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._conn.execute(query, params).fetchall()
        return [
            TraceInfo(
                trace_id=row[0],
                kind=row[1],
                status=row[2],
                started_at=row[3],
                ended_at=row[4],
                metadata=_loads(row[5]),
                events=row[6],
                prompt_tokens=row[7],
                completion_tokens=row[8],
            )
            for row in rows
        ]

    def summary(self) -> TraceSummary:
        """Totals over the whole store."""
        with self._lock:
            by_status = dict(
                self._conn.execute("SELECT status, COUNT(*) FROM traces GROUP BY status").fetchall()
            )
            by_kind = dict(
                self._conn.execute("SELECT kind, COUNT(*) FROM traces GROUP BY kind").fetchall()
            )
            events_by_kind = dict(
                self._conn.execute("SELECT kind, COUNT(*) FROM events GROUP BY kind").fetchall()
            )
            role_rows = self._conn.execute(
                "SELECT role, COUNT(*), COALESCE(SUM(prompt_tokens), 0), "
                "COALESCE(SUM(completion_tokens), 0), AVG(latency_s) FROM events "
                "WHERE kind = ? AND role IS NOT NULL GROUP BY role ORDER BY role",
                (EventKind.LLM_CALL.value,),
            ).fetchall()
        return TraceSummary(
            traces=sum(by_status.values()),
            by_status=by_status,
            by_kind=by_kind,
            events_by_kind=events_by_kind,
            roles=[
                RoleStats(row[0], row[1], row[2], row[3], float(row[4] or 0.0)) for row in role_rows
            ],
        )


# ---------------------------------------------------------------------- rendering

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
        text = (text + "\n" if text else "") + _dumps(extras)
    return text


def _tokens_text(event: TraceEvent) -> str:
    if event.prompt_tokens is None and event.completion_tokens is None:
        return ""
    return f"{event.prompt_tokens or 0}→{event.completion_tokens or 0}"


def render_summary(store: TraceStore, console: Any, *, limit: int = 50) -> None:
    """Print a store's totals and its most recent traces (rich)."""
    from rich.table import Table

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


def render_trace(store: TraceStore, trace_id: str, console: Any, *, width: int = 400) -> None:
    """Print one trace as a table of its events (rich). Raises KeyError when unknown."""
    from rich.markup import escape
    from rich.table import Table

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
        console.print(escape(_dumps(info.metadata))[: width * 4])
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
    from looptool.jsonl import write_text_atomic

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
