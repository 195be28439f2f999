"""Traces of a run across all its trace stores, filtered: the run browser's traces page,
``looptool traces list`` and ``looptool traces export``.

A run may hold several stores (``RUN/traces.sqlite``, ``RUN/synth/traces.sqlite``, ...);
every trace is addressed by its store's path relative to the run and its trace id. Trace ids
of the loop carry their iteration (``jglv:<j>:<sample>``, ``edde:<j>:<seed>``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from looptool.traces import TraceEvent, TraceInfo, TraceStore, TraceStoreError
from looptool.view.runfolder import RunFolder

#: Statuses that mean "thrown away" (the rest: accepted, done, verdicts, running).
REJECTED_STATUSES = ("rejected", "failed", "dropped")


@dataclass(frozen=True)
class TraceFilter:
    """Filters shared by the traces page and ``traces list``; empty fields match everything."""

    kind: str = ""
    iteration: int | None = None
    status: str = ""  # accepted | rejected | an exact status (a verdict for judge traces)
    tool: str = ""
    q: str = ""
    sample: str = ""

    def needs_events(self) -> bool:
        return bool(self.tool or self.q)


@dataclass(frozen=True)
class TraceRow:
    """One trace header with where it lives."""

    store: str  # path of its store relative to the run folder
    info: TraceInfo

    @property
    def iteration(self) -> int | None:
        value = self.info.metadata.get("iteration")
        if isinstance(value, int):
            return value
        parts = self.info.trace_id.split(":")
        return int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else None

    @property
    def sample_id(self) -> str | None:
        for key in ("sample_id", "seed_id"):
            value = self.info.metadata.get(key)
            if isinstance(value, str):
                return value
        return None

    @property
    def reason(self) -> str:
        return str(self.info.metadata.get("reason") or "")

    def status_class(self) -> str:
        return "rejected" if self.info.status in REJECTED_STATUSES else self.info.status


def open_store(path: Path) -> TraceStore:
    return TraceStore(path, readonly=True)


def _status_matches(status: str, wanted: str) -> bool:
    if not wanted:
        return True
    if wanted == "rejected":
        return status in REJECTED_STATUSES
    if wanted == "accepted":
        return status not in REJECTED_STATUSES and status != "running"
    return status == wanted


def _matching_ids(path: Path, wanted: TraceFilter) -> set[str]:
    """Trace ids whose events name the tool / contain the text (one SQL query)."""
    clauses, params = [], []
    if wanted.tool:
        clauses.append("((kind = 'tool_call' AND content = ?) OR data LIKE ?)")
        params += [wanted.tool, f'%"name": "{wanted.tool}"%']
    if wanted.q:
        clauses.append("(content LIKE ? OR data LIKE ? OR trace_id LIKE ?)")
        params += [f"%{wanted.q}%"] * 3
    connection = sqlite3.connect(path, timeout=30.0)
    try:
        rows = connection.execute(f"SELECT DISTINCT trace_id FROM events WHERE {' AND '.join(clauses)}",
                                  params).fetchall()
        if wanted.q:
            rows += connection.execute("SELECT trace_id FROM traces WHERE metadata LIKE ? OR trace_id LIKE ?",
                                       [f"%{wanted.q}%"] * 2).fetchall()
    except sqlite3.DatabaseError as error:
        raise TraceStoreError(f"{path}: cannot read the trace store ({error})") from None
    finally:
        connection.close()
    return {row[0] for row in rows}


def list_traces(run: RunFolder, wanted: TraceFilter) -> tuple[list[TraceRow], list[str]]:
    """Matching traces of every store, oldest first, and one problem line per unreadable store."""
    rows: list[TraceRow] = []
    problems: list[str] = []
    for path in run.trace_stores():
        relative = str(path.relative_to(run.path))
        try:
            with open_store(path) as store:
                infos = store.traces(kind=wanted.kind or None)
            allowed = _matching_ids(path, wanted) if wanted.needs_events() else None
        except TraceStoreError as error:
            problems.append(str(error))
            continue
        for info in infos:
            row = TraceRow(relative, info)
            if allowed is not None and info.trace_id not in allowed:
                continue
            if not _status_matches(info.status, wanted.status):
                continue
            if wanted.iteration is not None and row.iteration != wanted.iteration:
                continue
            if wanted.sample and wanted.sample not in (row.sample_id, info.trace_id) \
                    and not info.trace_id.endswith(f":{wanted.sample}"):
                continue
            rows.append(row)
    return rows, problems


def trace_links(run: RunFolder, trace_ids: set[str]) -> dict[str, str]:
    """Trace id -> store (relative path) for those of ``trace_ids`` that some store holds."""
    found: dict[str, str] = {}
    if not trace_ids:
        return found
    for path in run.trace_stores():
        try:
            connection = sqlite3.connect(path, timeout=30.0)
            try:
                wanted = sorted(trace_ids - set(found))
                for start in range(0, len(wanted), 500):
                    chunk = wanted[start:start + 500]
                    query = f"SELECT trace_id FROM traces WHERE trace_id IN ({','.join('?' * len(chunk))})"
                    for (trace_id,) in connection.execute(query, chunk).fetchall():
                        found.setdefault(trace_id, str(path.relative_to(run.path)))
            finally:
                connection.close()
        except sqlite3.DatabaseError:
            continue
    return found


def load_trace(run: RunFolder, store: str, trace_id: str) -> tuple[TraceInfo | None, list[TraceEvent]]:
    """One trace and its events; ``store`` must be one of the run's stores (no path tricks)."""
    known = {str(path.relative_to(run.path)): path for path in run.trace_stores()}
    if store not in known:
        raise TraceStoreError(f"{store!r} is not a trace store of {run.path}")
    with open_store(known[store]) as opened:
        info = opened.trace(trace_id)
        return info, opened.events(trace_id) if info is not None else []


def export_records(run: RunFolder, wanted: TraceFilter) -> Iterator[dict[str, Any]]:
    """One JSON object per matching trace: its header, store and every event."""
    rows, problems = list_traces(run, wanted)
    if problems:
        raise TraceStoreError("; ".join(problems))
    stores = {str(path.relative_to(run.path)): path for path in run.trace_stores()}
    for row in rows:
        with open_store(stores[row.store]) as store:
            events = store.events(row.info.trace_id)
        yield {"store": row.store, **asdict(row.info), "events": [asdict(event) for event in events]}


def export_jsonl(run: RunFolder, wanted: TraceFilter, stream: Any) -> int:
    """Write :func:`export_records` as JSON Lines to ``stream``; returns the number of traces."""
    count = 0
    for record in export_records(run, wanted):
        stream.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        count += 1
    return count
