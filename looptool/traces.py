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

The views (terminal and HTML) live in :mod:`looptool.trace_views`.
"""

from __future__ import annotations

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

from looptool.errors import UserError

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


#: The columns the readers need, per table (a foreign ``traces`` table lacks them).
_COLUMNS = {
    "traces": {"trace_id", "kind", "status", "started_at", "ended_at", "metadata"},
    "events": {"id", "trace_id", "seq", "kind", "node", "role", "started_at", "ended_at", "latency_s",
               "prompt_tokens", "completion_tokens", "content", "data"},
}


class TraceStoreError(UserError):
    """The trace file is missing, unreadable, damaged or not a LoopTool trace store."""


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


def _loads(text: str | None, where: str = "") -> dict[str, Any]:
    """A JSON column's object; bad JSON is a :class:`TraceStoreError` naming ``where``."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise TraceStoreError(f"{where or 'a trace column'}: not valid JSON ({error})") from None
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
                self._check_tables()
            except TraceStoreError:
                self._conn.close()
                raise
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
        try:
            self._check_tables()
        except TraceStoreError:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ lifecycle

    def _check_tables(self) -> None:
        """Refuse a file whose tables lack the columns the readers need."""
        for table, needed in _COLUMNS.items():
            try:
                rows = self._conn.execute(f"PRAGMA table_info({table})").fetchall()
            except sqlite3.DatabaseError as error:
                raise TraceStoreError(f"{self.path}: not a LoopTool trace store ({error})") from None
            missing = needed - {row[1] for row in rows}
            if missing:
                what = "no table" if not rows else f"table lacks {', '.join(sorted(missing))}"
                raise TraceStoreError(f"{self.path}: not a LoopTool trace store ({what} {table!r})")

    def _read(self, query: str, params: list[Any]) -> list[Any]:
        """Rows of a query; a damaged or foreign file is a :class:`TraceStoreError`."""
        with self._lock:
            try:
                return self._conn.execute(query, params).fetchall()
            except sqlite3.DatabaseError as error:
                raise TraceStoreError(f"{self.path}: cannot read the trace store ({error})") from None

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
        rows = self._read(query + " ORDER BY seq", params)
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
                data=_loads(row[11], f"{self.path}: trace {row[0]!r} event {row[1]} column 'data'"),
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
        rows = self._read(query, params)
        return [
            TraceInfo(
                trace_id=row[0],
                kind=row[1],
                status=row[2],
                started_at=row[3],
                ended_at=row[4],
                metadata=_loads(row[5], f"{self.path}: trace {row[0]!r} column 'metadata'"),
                events=row[6],
                prompt_tokens=row[7],
                completion_tokens=row[8],
            )
            for row in rows
        ]

    def summary(self) -> TraceSummary:
        """Totals over the whole store."""
        by_status = dict(self._read("SELECT status, COUNT(*) FROM traces GROUP BY status", []))
        by_kind = dict(self._read("SELECT kind, COUNT(*) FROM traces GROUP BY kind", []))
        events_by_kind = dict(self._read("SELECT kind, COUNT(*) FROM events GROUP BY kind", []))
        role_rows = self._read(
            "SELECT role, COUNT(*), COALESCE(SUM(prompt_tokens), 0), "
            "COALESCE(SUM(completion_tokens), 0), AVG(latency_s) FROM events "
            "WHERE kind = ? AND role IS NOT NULL GROUP BY role ORDER BY role",
            [EventKind.LLM_CALL.value],
        )
        return TraceSummary(
            traces=sum(by_status.values()),
            by_status=by_status,
            by_kind=by_kind,
            events_by_kind=events_by_kind,
            roles=[
                RoleStats(row[0], row[1], row[2], row[3], float(row[4] or 0.0)) for row in role_rows
            ],
        )
