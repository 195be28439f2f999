"""The batch runner: concurrency bound, journal, resume, failures with reasons, torn lines,
and a real SIGKILL of a running batch."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from looptool.batch import (
    BatchItem,
    ItemOutcome,
    finished_in_order,
    iter_journal,
    read_journal,
    run_batch_sync,
)
from looptool.jsonl import DataFileError

REPO = Path(__file__).resolve().parents[2]


class Square(BaseModel):
    value: int
    square: int


def items(n: int) -> list[BatchItem[int]]:
    return [BatchItem(f"item-{index:03d}", index) for index in range(n)]


def run(journal: Path, work, n: int = 6, **options) -> object:
    options.setdefault("concurrency", 3)
    return run_batch_sync(items(n), work, journal=journal, result_model=Square, progress=False, **options)


async def square(item: BatchItem[int]) -> ItemOutcome[Square]:
    """Accepts even numbers, rejects odd ones."""
    result = Square(value=item.payload, square=item.payload**2)
    return ItemOutcome.accepted(result) if item.payload % 2 == 0 else ItemOutcome.rejected(result, "odd")


def test_outcomes_are_journaled_and_counted(tmp_path: Path) -> None:
    journal = tmp_path / "squares.journal.jsonl"
    summary = run(journal, square, n=5)
    assert (summary.accepted, summary.rejected, summary.failed, summary.already_finished) == (3, 2, 0, 0)
    assert summary.complete and summary.finished == 5 and summary.items == 5
    records = read_journal(journal, Square)
    assert {record.id: record.status for record in records.values()} == {
        "item-000": "accepted", "item-001": "rejected", "item-002": "accepted",
        "item-003": "rejected", "item-004": "accepted",
    }
    assert records["item-003"].reason == "odd" and records["item-003"].result == Square(value=3, square=9)
    assert isinstance(records["item-004"].result, Square)
    ordered = finished_in_order(records, [f"item-{index:03d}" for index in (4, 0, 9, 2)])
    assert [record.id for record in ordered] == ["item-004", "item-000", "item-002"]
    for line in journal.read_text().splitlines():  # one complete JSON object per line
        assert set(json.loads(line)) == {"id", "status", "result", "reason", "seconds", "time"}


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_bound_is_respected(tmp_path: Path, concurrency: int) -> None:
    in_flight = 0
    peak = 0

    async def slow(item: BatchItem[int]) -> ItemOutcome[Square]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return await square(item)

    summary = run(tmp_path / "j.jsonl", slow, n=12, concurrency=concurrency)
    assert summary.finished == 12
    assert peak == concurrency


def test_failures_are_recorded_with_reasons_and_retried_on_rerun(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    calls: list[str] = []

    async def flaky(item: BatchItem[int]) -> ItemOutcome[Square]:
        calls.append(item.id)
        if item.payload == 1:
            raise ConnectionError("server went away")
        if item.payload == 4:
            return ItemOutcome.failed("rate limited", Square(value=4, square=-1))
        return await square(item)

    summary = run(journal, flaky, n=6)
    assert (summary.accepted, summary.rejected, summary.failed) == (2, 2, 2)
    assert not summary.complete
    assert {failure.id: failure.reason for failure in summary.failures} == {
        "item-001": "ConnectionError: server went away", "item-004": "rate limited",
    }
    records = read_journal(journal, Square)
    assert records["item-004"].status == "failed" and records["item-004"].result == Square(value=4, square=-1)

    calls.clear()
    summary = run(journal, square, n=6)
    assert summary.already_finished == 4 and (summary.accepted, summary.failed) == (1, 0)
    assert summary.rejected == 1 and summary.complete
    records = read_journal(journal, Square)  # the latest record of an id wins
    assert records["item-001"].status == "rejected" and records["item-004"].status == "accepted"
    assert [record.status for record in iter_journal(journal, Square)].count("failed") == 2  # attempt log kept

    again = run(journal, flaky, n=6)  # nothing left to do
    assert again.already_finished == 6 and again.accepted + again.rejected + again.failed == 0


def test_a_torn_last_line_is_ignored_then_cut_and_the_item_redone(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    run(journal, square, n=3)
    complete = journal.read_text()
    torn = '{"id": "item-003", "status": "accepted", "result": {"val'
    journal.write_text(complete + torn)
    assert sorted(read_journal(journal, Square)) == ["item-000", "item-001", "item-002"]

    calls: list[str] = []

    async def counting(item: BatchItem[int]) -> ItemOutcome[Square]:
        calls.append(item.id)
        return await square(item)

    summary = run(journal, counting, n=5)
    assert calls == ["item-003", "item-004"] and summary.already_finished == 3
    text = journal.read_text()
    assert text.startswith(complete) and torn not in text and text.endswith("\n")
    assert len(read_journal(journal, Square)) == 5


def test_a_broken_line_inside_the_journal_is_a_clear_error(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    run(journal, square, n=2)
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text(lines[0] + "not json\n" + lines[1])
    with pytest.raises(DataFileError, match=r"j.jsonl:2: invalid JSON"):
        run(journal, square, n=2)
    journal.write_text(lines[0] + '{"index": 3, "accepted": null}\n')
    with pytest.raises(DataFileError, match=r"j.jsonl:2: not a batch journal record: field 'id'"):
        read_journal(journal, Square)
    journal.write_text('{"id": "a", "status": "accepted", "result": {"value": "x"}, "time": 1}\n')
    with pytest.raises(DataFileError, match=r"j.jsonl:1: item 'a': result is not a Square: field 'value'"):
        read_journal(journal, Square)


def test_bad_arguments_and_bad_outcomes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duplicate item ids"):
        run_batch_sync([BatchItem("a", 1), BatchItem("a", 2)], square, journal=tmp_path / "j.jsonl",
                       result_model=Square, concurrency=1, progress=False)
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        run(tmp_path / "j.jsonl", square, concurrency=0)
    with pytest.raises(ValueError, match="a failed outcome needs a reason"):
        ItemOutcome("failed")

    class Other(BaseModel):
        x: int = 0

    async def wrong(item: BatchItem[int]):
        return Other() if item.payload else ItemOutcome.accepted(Other())

    summary = run(tmp_path / "k.jsonl", wrong, n=2)
    assert summary.failed == 2
    assert sorted(failure.reason for failure in summary.failures) == [
        "work returned Other, not an ItemOutcome", "work returned a Other result, not a Square",
    ]


def test_stops_when_the_first_items_all_fail(tmp_path: Path) -> None:
    async def down(item: BatchItem[int]) -> ItemOutcome[Square]:
        raise ConnectionError("connection refused")

    summary = run(tmp_path / "j.jsonl", down, n=20, concurrency=1, stop_after_failures=3)
    assert summary.failed == 3 and summary.not_started == 17
    assert summary.stopped is not None and "connection refused" in summary.stopped
    assert len((tmp_path / "j.jsonl").read_text().splitlines()) == 3


def test_the_sync_wrapper_refuses_a_running_loop(tmp_path: Path) -> None:
    async def inside() -> None:
        run(tmp_path / "j.jsonl", square)

    with pytest.raises(RuntimeError, match="await run_batch instead"):
        asyncio.run(inside())


WORKER = textwrap.dedent(
    """
    import asyncio, os, sys
    from pydantic import BaseModel
    from looptool.batch import BatchItem, ItemOutcome, run_batch

    journal, calls, label = sys.argv[1], sys.argv[2], sys.argv[3]

    class Echo(BaseModel):
        value: int

    async def work(item):
        with open(calls, "a") as stream:
            stream.write(f"{label} {item.id}\\n")
            stream.flush()
            os.fsync(stream.fileno())
        await asyncio.sleep(0.15)
        result = Echo(value=item.payload)
        return ItemOutcome.rejected(result, "x5") if item.payload % 5 == 0 else ItemOutcome.accepted(result)

    items = [BatchItem(f"item-{index:02d}", index) for index in range(40)]
    summary = asyncio.run(run_batch(items, work, journal=journal, result_model=Echo, concurrency=3,
                                    progress=False))
    print(summary.finished, summary.already_finished)
    """
)


class Echo(BaseModel):
    value: int


def test_a_sigkilled_batch_resumes_without_redoing_or_losing_items(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    journal, calls = tmp_path / "echo.journal.jsonl", tmp_path / "calls.txt"
    command = [sys.executable, str(script), str(journal), str(calls)]

    first = subprocess.Popen([*command, "first"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 6:
            break
        time.sleep(0.01)
    assert first.poll() is None, f"the batch ended before it could be killed: {first.communicate()}"
    first.kill()  # SIGKILL: no clean-up code runs
    first.wait(timeout=30)
    assert first.returncode == -9

    finished_before = {record.id for record in read_journal(journal, Echo).values() if record.finished}
    assert 6 <= len(finished_before) < 40

    second = subprocess.run([*command, "second"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["40", str(len(finished_before))]

    records = read_journal(journal, Echo)
    assert sorted(records) == [f"item-{index:02d}" for index in range(40)]
    assert all(record.finished and record.result == Echo(value=int(item_id[-2:])) for item_id, record in records.items())
    finished_lines = [record.id for record in iter_journal(journal, Echo) if record.finished]
    assert len(finished_lines) == len(set(finished_lines)) == 40  # every item finished exactly once
    called_again = [line.split()[1] for line in calls.read_text().splitlines() if line.startswith("second ")]
    assert not set(called_again) & finished_before  # nothing finished before the kill ran again
    assert set(called_again) == set(records) - finished_before
