"""Trace store: round trip, spans, concurrent async writers, summaries, clear open errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from looptool.traces import EventKind, TokenUsage, TraceStore, TraceStoreError, usage_of


class _FakeReply:
    def __init__(self, usage: dict[str, int] | None, response: dict[str, object] | None = None) -> None:
        self.usage_metadata = usage
        self.response_metadata = response or {}


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    store = TraceStore.for_run(tmp_path)
    store.start("dlg-1", kind="dialogue", metadata={"index": 1})
    store.record(
        "dlg-1",
        EventKind.LLM_CALL,
        node="assistant",
        role="generator",
        content="hello <b>",
        data={"messages_in": [{"role": "user", "content": "hi"}]},
        started_at=100.0,
        ended_at=101.5,
        usage=TokenUsage(12, 3),
    )
    store.record("dlg-1", EventKind.TOOL_CALL, node="tool", content="add", data={"arguments": {"a": 1}})
    store.finish("dlg-1", "accepted", metadata={"reason": "ok"})
    store.close()

    reopened = TraceStore.for_run(tmp_path, readonly=True)
    events = reopened.events("dlg-1")
    assert [event.seq for event in events] == [1, 2]
    first = events[0]
    assert (first.kind, first.node, first.role) == ("llm_call", "assistant", "generator")
    assert first.latency_s == pytest.approx(1.5)
    assert (first.prompt_tokens, first.completion_tokens) == (12, 3)
    assert first.data["messages_in"][0]["content"] == "hi"
    assert events[1].data == {"arguments": {"a": 1}}
    info = reopened.trace("dlg-1")
    assert info is not None
    assert info.status == "accepted"
    assert info.metadata == {"index": 1, "reason": "ok"}
    assert (info.events, info.prompt_tokens, info.completion_tokens) == (2, 12, 3)
    assert reopened.events("dlg-1", kind=EventKind.TOOL_CALL)[0].content == "add"


def test_span_times_block_and_records_errors(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.sqlite")
    store.start("job")
    with store.span("job", EventKind.LLM_CALL, node="gen", role="generator") as span:
        span.content = "reply"
        span.set_usage(_FakeReply({"input_tokens": 5, "output_tokens": 7}))
    with pytest.raises(RuntimeError), store.span("job", EventKind.TOOL_RESULT, node="tool"):
        raise RuntimeError("backend down")
    events = store.events("job")
    assert events[0].prompt_tokens == 5 and events[0].completion_tokens == 7
    assert events[0].ended_at >= events[0].started_at
    assert events[1].data["error"] == "RuntimeError: backend down"


def test_usage_falls_back_to_openai_token_usage() -> None:
    reply = _FakeReply(None, {"token_usage": {"prompt_tokens": 9, "completion_tokens": 4}})
    assert usage_of(reply) == TokenUsage(9, 4)
    assert usage_of(object()) == TokenUsage()


def test_restart_drops_events_of_unfinished_attempt(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.sqlite")
    store.start("dlg-7")
    store.record("dlg-7", EventKind.NOTE, content="first attempt")
    store.start("dlg-7")  # resumed run restarts the same dialogue
    store.record("dlg-7", EventKind.NOTE, content="second attempt")
    assert [event.content for event in store.events("dlg-7")] == ["second attempt"]
    assert store.events("dlg-7")[0].seq == 1


def test_concurrent_async_writers_keep_per_trace_order(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.sqlite")

    async def writer(index: int) -> None:
        trace_id = f"dlg-{index}"
        store.start(trace_id)
        for step in range(20):
            store.record(trace_id, EventKind.NOTE, content=str(step))
            await asyncio.sleep(0)
        store.finish(trace_id, "accepted" if index % 2 else "rejected")

    async def main() -> None:
        await asyncio.gather(*(writer(index) for index in range(16)))

    asyncio.run(main())
    for index in range(16):
        contents = [event.content for event in store.events(f"dlg-{index}")]
        assert contents == [str(step) for step in range(20)]
    summary = store.summary()
    assert summary.traces == 16
    assert summary.by_status == {"accepted": 8, "rejected": 8}
    assert summary.events_by_kind == {"note": 320}


def test_summary_groups_model_calls_by_role(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.sqlite")
    store.start("a")
    store.record("a", EventKind.LLM_CALL, role="judge", usage=TokenUsage(10, 2), started_at=0, ended_at=2)
    store.record("a", EventKind.LLM_CALL, role="judge", usage=TokenUsage(20, 4), started_at=0, ended_at=4)
    store.record("a", EventKind.LLM_CALL, role="user_sim", usage=TokenUsage(1, 1))
    roles = {stats.role: stats for stats in store.summary().roles}
    assert roles["judge"].calls == 2
    assert (roles["judge"].prompt_tokens, roles["judge"].completion_tokens) == (30, 6)
    assert roles["judge"].mean_latency_s == pytest.approx(3.0)
    assert roles["user_sim"].calls == 1


def test_readonly_open_of_missing_or_foreign_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TraceStoreError, match="no trace store"):
        TraceStore.for_run(tmp_path, readonly=True)
    other = tmp_path / "other.sqlite"
    other.write_bytes(b"not a database at all" * 100)
    with pytest.raises(TraceStoreError, match="not a LoopTool trace store"):
        TraceStore(other, readonly=True)
