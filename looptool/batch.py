"""One resumable batch runner for every LLM-bound stage.

``run_batch`` runs an async ``work`` function over items keyed by a stable id, at most
``concurrency`` in flight, and appends each item's outcome to a JSON Lines *journal* as it
finishes (flushed and fsynced per line). An outcome is ``accepted`` or ``rejected`` (both
*finished*) or ``failed`` (with its reason; tried again by the next run). A rerun over the
same journal skips finished ids, so a killed run resumes without duplicating or dropping an
item. The latest record of an id wins. A torn last line (a kill mid-write) is ignored on read
and cut before the next append; every earlier line is kept.

Results are pydantic models, stored as JSON; read them back typed with
:func:`read_journal` (latest record per id) or :func:`iter_journal` (every line, e.g. an
attempt log), and in item order with :func:`finished_in_order`. Outputs derived from a
journal are the caller's, written atomically (:mod:`looptool.jsonl`).

    async def work(item: BatchItem[int]) -> ItemOutcome[Answer]:
        answer = await ask(item.payload)
        return ItemOutcome.accepted(answer) if answer.ok else ItemOutcome.rejected(answer, "off topic")

    summary = await run_batch([BatchItem(f"q-{i}", i) for i in range(100)], work,
                              journal=run.file("answers.journal.jsonl"), result_model=Answer,
                              concurrency=8, description="answers")
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from looptool.jsonl import DataFileError

log = logging.getLogger(__name__)

ResultT = TypeVar("ResultT", bound=BaseModel)
PayloadT = TypeVar("PayloadT")

ItemStatus = Literal["accepted", "rejected", "failed"]
FINISHED_STATUSES: frozenset[str] = frozenset({"accepted", "rejected"})


@dataclass(frozen=True)
class BatchItem(Generic[PayloadT]):
    """One unit of work: a stable ``id`` (the journal key) and what the work function needs."""

    id: str
    payload: PayloadT


@dataclass(frozen=True)
class ItemOutcome(Generic[ResultT]):
    """What the work function returns for one item.

    ``accepted`` and ``rejected`` are final; ``failed`` is retried by the next run. A failure
    needs a ``reason``; any status may carry a ``result`` (a failure's diagnostics, say)."""

    status: ItemStatus
    result: ResultT | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in get_args(ItemStatus):
            raise ValueError(f"unknown item status {self.status!r}; use one of {get_args(ItemStatus)}")
        if self.status == "failed" and not self.reason:
            raise ValueError("a failed outcome needs a reason")

    @classmethod
    def accepted(cls, result: ResultT, reason: str | None = None) -> ItemOutcome[ResultT]:
        return cls("accepted", result, reason)

    @classmethod
    def rejected(cls, result: ResultT | None, reason: str) -> ItemOutcome[ResultT]:
        return cls("rejected", result, reason)

    @classmethod
    def failed(cls, reason: str, result: ResultT | None = None) -> ItemOutcome[ResultT]:
        return cls("failed", result, reason)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


@dataclass(frozen=True)
class JournalRecord(Generic[ResultT]):
    """One journal line read back: the outcome of one attempt at one item."""

    id: str
    status: ItemStatus
    result: ResultT | None
    reason: str | None
    seconds: float
    time: float

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class _JournalLine(BaseModel):
    """The on-disk form of a journal line (``result`` is the result model's JSON)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    status: ItemStatus
    result: dict[str, Any] | None = None
    reason: str | None = None
    seconds: float = 0.0
    time: float


class ItemFailure(BaseModel):
    """A failed item of this run and why."""

    id: str
    reason: str


class BatchSummary(BaseModel):
    """What one ``run_batch`` call did (counts are of this run unless named otherwise)."""

    description: str
    journal: str
    items: int = Field(description="items asked for")
    already_finished: int = Field(default=0, description="skipped: finished by an earlier run")
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    not_started: int = Field(default=0, description="never tried because the batch stopped early")
    failures: list[ItemFailure] = Field(default_factory=list)
    seconds: float = 0.0
    stopped: str | None = Field(default=None, description="why the batch stopped before every item was tried")

    @property
    def finished(self) -> int:
        """Items now finished, including those of earlier runs."""
        return self.already_finished + self.accepted + self.rejected

    @property
    def complete(self) -> bool:
        return self.finished >= self.items

    def describe(self) -> str:
        text = (
            f"{self.description}: {self.finished}/{self.items} finished "
            f"({self.already_finished} earlier; this run: {self.accepted} accepted, "
            f"{self.rejected} rejected, {self.failed} failed) in {self.seconds:.1f} s"
        )
        if self.stopped:
            text += f"; stopped early ({self.not_started} not started): {self.stopped}"
        return text


# ---------------------------------------------------------------------- the journal


def _cut_torn_tail(path: Path) -> None:
    """Truncate an unterminated last line (left by a kill mid-append); earlier lines stay."""
    if not path.exists():
        return
    with path.open("rb+") as stream:
        size = stream.seek(0, os.SEEK_END)
        if size == 0:
            return
        stream.seek(size - 1)
        if stream.read(1) == b"\n":
            return
        cut = 0
        position = size
        while position > 0:
            step = min(65536, position)
            position -= step
            stream.seek(position)
            newline = stream.read(step).rfind(b"\n")
            if newline >= 0:
                cut = position + newline + 1
                break
        stream.truncate(cut)
        stream.flush()
        os.fsync(stream.fileno())
    log.warning("%s: cut a torn last line (%d bytes) left by an interrupted run", path, size - cut)


def _journal_lines(path: Path) -> Iterator[tuple[int, _JournalLine]]:
    """(line number, line) for every complete line; an unterminated last line is ignored."""
    lines = path.read_bytes().split(b"\n")
    if lines[-1].strip():
        log.warning("%s: ignoring a torn last line (%d bytes) left by an interrupted run", path, len(lines[-1]))
    for number, raw in enumerate(lines[:-1], start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DataFileError(
                f"{path}:{number}: invalid JSON ({error}); only an unterminated last line "
                "(a killed write) is tolerated in a batch journal"
            ) from None
        try:
            yield number, _JournalLine.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "(line)"
            raise DataFileError(
                f"{path}:{number}: not a batch journal record: field '{field}': {first['msg']} "
                "(written by another tool or an older LoopTool?)"
            ) from None


def iter_journal(path: str | Path, result_model: type[ResultT]) -> Iterator[JournalRecord[ResultT]]:
    """Every record of a journal, in the order written (a missing journal is empty)."""
    source = Path(path)
    if not source.exists():
        return
    for number, line in _journal_lines(source):
        try:
            result = None if line.result is None else result_model.model_validate(line.result)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            raise DataFileError(
                f"{source}:{number}: item {line.id!r}: result is not a {result_model.__name__}: "
                f"field '{field}': {first['msg']}"
            ) from None
        yield JournalRecord(id=line.id, status=line.status, result=result, reason=line.reason,
                            seconds=line.seconds, time=line.time)


def read_journal(path: str | Path, result_model: type[ResultT]) -> dict[str, JournalRecord[ResultT]]:
    """The latest record per id (dict order: the first time each id was journaled)."""
    return {record.id: record for record in iter_journal(path, result_model)}


def finished_in_order(
    records: Mapping[str, JournalRecord[ResultT]], ids: Iterable[str]
) -> list[JournalRecord[ResultT]]:
    """The finished records among ``ids``, in the order of ``ids`` (e.g. the items' order)."""
    return [records[item_id] for item_id in ids if item_id in records and records[item_id].finished]


class _JournalWriter:
    """Appends one fsynced line per outcome (called from the event loop's thread only)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _cut_torn_tail(path)
        self._stream = path.open("a", encoding="utf-8")

    def append(self, item_id: str, outcome: ItemOutcome[Any], seconds: float) -> None:
        line = _JournalLine(
            id=item_id,
            status=outcome.status,
            result=None if outcome.result is None else outcome.result.model_dump(mode="json"),
            reason=outcome.reason,
            seconds=round(seconds, 3),
            time=time.time(),
        )
        self._stream.write(line.model_dump_json() + "\n")
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def close(self) -> None:
        self._stream.close()


# ---------------------------------------------------------------------- the runner


def _checked_outcome(outcome: object, result_model: type[BaseModel]) -> ItemOutcome[Any]:
    """The work function's outcome, or a failure naming what it returned instead."""
    if not isinstance(outcome, ItemOutcome):
        return ItemOutcome.failed(f"work returned {type(outcome).__name__}, not an ItemOutcome")
    if outcome.result is not None and not isinstance(outcome.result, result_model):
        return ItemOutcome.failed(
            f"work returned a {type(outcome.result).__name__} result, not a {result_model.__name__}"
        )
    return outcome


async def run_batch(
    items: Iterable[BatchItem[PayloadT]],
    work: Callable[[BatchItem[PayloadT]], Awaitable[ItemOutcome[ResultT]]],
    *,
    journal: str | Path,
    result_model: type[ResultT],
    concurrency: int,
    description: str = "items",
    progress: bool = True,
    stop_after_failures: int | None = None,
) -> BatchSummary:
    """Run ``work`` over every unfinished item, ``concurrency`` in flight, journaling outcomes.

    Args:
        items: the batch; ids must be unique and stable across runs.
        work: returns an :class:`ItemOutcome`; an exception it raises is journaled as a
            failure with ``"<ExceptionType>: <message>"`` as the reason.
        journal: the JSON Lines journal (created if missing; resumed if present).
        result_model: the pydantic model of results (validated when read back).
        concurrency: items in flight (a worker pool of this size).
        description: names the batch in the progress bar, the log and the summary.
        progress: show a rich progress bar (only when the console is a terminal).
        stop_after_failures: stop starting items when the first this-many outcomes of this
            run all failed (a server that is down); finished work is kept and
            ``summary.stopped`` says why.

    Cancellation (Ctrl-C) stops the workers; whatever was journaled stays.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from looptool.logs import console

    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if stop_after_failures is not None and stop_after_failures < 1:
        raise ValueError(f"stop_after_failures must be at least 1, got {stop_after_failures}")
    batch = list(items)
    counts = Counter(item.id for item in batch)
    duplicates = sorted(item_id for item_id, count in counts.items() if count > 1)
    if duplicates:
        raise ValueError(f"{description}: duplicate item ids {duplicates[:5]}")
    if "" in counts:
        raise ValueError(f"{description}: an item has an empty id")

    journal_path = Path(journal)
    started = time.perf_counter()
    writer = _JournalWriter(journal_path)  # cuts a torn tail before reading
    earlier = read_journal(journal_path, result_model)
    pending = [item for item in batch if not (item.id in earlier and earlier[item.id].finished)]
    summary = BatchSummary(description=description, journal=str(journal_path), items=len(batch),
                           already_finished=len(batch) - len(pending))
    if summary.already_finished:
        log.info("%s: resuming, %d of %d already finished in %s", description,
                 summary.already_finished, len(batch), journal_path)
    queue = iter(pending)
    consecutive_failures = 0

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), console=console,
                   disable=not (progress and console.is_terminal), transient=False)
    task = bar.add_task(description, total=len(batch), completed=summary.already_finished, counts="")

    def record(item: BatchItem[PayloadT], outcome: ItemOutcome[Any], seconds: float) -> None:
        nonlocal consecutive_failures
        writer.append(item.id, outcome, seconds)
        if outcome.status == "accepted":
            summary.accepted += 1
        elif outcome.status == "rejected":
            summary.rejected += 1
        else:
            summary.failed += 1
            summary.failures.append(ItemFailure(id=item.id, reason=outcome.reason or ""))
        consecutive_failures = consecutive_failures + 1 if outcome.status == "failed" else 0
        if (stop_after_failures is not None and summary.stopped is None
                and consecutive_failures >= stop_after_failures
                and summary.accepted + summary.rejected == 0):
            summary.stopped = (f"the first {consecutive_failures} items all failed; "
                               f"last: {outcome.reason}")
        bar.update(task, advance=1 if outcome.finished else 0,
                   counts=f"accepted {summary.accepted} rejected {summary.rejected} failed {summary.failed}")

    async def worker() -> None:
        while summary.stopped is None:
            item = next(queue, None)
            if item is None:
                return
            item_started = time.perf_counter()
            try:
                outcome = _checked_outcome(await work(item), result_model)
            except Exception as error:  # one item's error must not lose the others
                outcome = ItemOutcome.failed(f"{type(error).__name__}: {error}")
            if outcome.status == "failed":
                log.warning("%s: %s failed (retried on rerun): %s", description, item.id, outcome.reason)
            record(item, outcome, time.perf_counter() - item_started)

    try:
        with bar:
            await asyncio.gather(*(worker() for _ in range(min(concurrency, len(pending)))))
    finally:
        writer.close()
    summary.not_started = sum(1 for _ in queue)
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def run_batch_sync(
    items: Iterable[BatchItem[PayloadT]],
    work: Callable[[BatchItem[PayloadT]], Awaitable[ItemOutcome[ResultT]]],
    *,
    journal: str | Path,
    result_model: type[ResultT],
    concurrency: int,
    description: str = "items",
    progress: bool = True,
    stop_after_failures: int | None = None,
) -> BatchSummary:
    """:func:`run_batch` from synchronous code (not from inside a running event loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_batch(items, work, journal=journal, result_model=result_model,
                                     concurrency=concurrency, description=description,
                                     progress=progress, stop_after_failures=stop_after_failures))
    raise RuntimeError("run_batch_sync was called inside an event loop; await run_batch instead")
