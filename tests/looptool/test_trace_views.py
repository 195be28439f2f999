"""Trace views: the rich terminal tables and the static HTML page."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from looptool.trace_views import render_summary, render_trace, write_html
from looptool.traces import EventKind, TokenUsage, TraceStore


def test_html_and_rich_views_escape_and_show_events(tmp_path: Path) -> None:
    store = TraceStore.for_run(tmp_path)
    store.start("dlg-x")
    store.record("dlg-x", EventKind.VERDICT, node="judge", content="<script>alert(1)</script>")
    store.finish("dlg-x", "rejected", metadata={"reason": "judge: inconsistent"})
    page = write_html(store, tmp_path / "traces.html").read_text(encoding="utf-8")
    assert "dlg-x" in page and "judge: inconsistent" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    buffer = io.StringIO()
    console = Console(file=buffer, width=160, force_terminal=False)
    render_trace(store, "dlg-x", console)
    render_summary(store, console)
    text = buffer.getvalue()
    assert "verdict" in text and "<script>alert(1)</script>" in text
    assert "rejected=1" in text
    with pytest.raises(KeyError, match="no trace 'nope'"):
        render_trace(store, "nope", console)


def test_html_limit_and_status_filter(tmp_path: Path) -> None:
    store = TraceStore.for_run(tmp_path)
    for index in range(5):
        store.start(f"t{index}")
        store.finish(f"t{index}", "accepted" if index % 2 else "rejected")
    page = write_html(store, tmp_path / "a.html", status="accepted").read_text(encoding="utf-8")
    assert "t1" in page and "t3" in page and ">t0<" not in page
    assert "showing 2 of 2 traces with status accepted" in page
    page = write_html(store, tmp_path / "b.html", limit=2).read_text(encoding="utf-8")
    assert "showing 2 of 5 traces" in page and ">t4<" in page and ">t0<" not in page


def test_prompt_goes_into_a_fold_and_roles_into_a_table(tmp_path: Path) -> None:
    store = TraceStore.for_run(tmp_path)
    store.start("dlg-p")
    store.record("dlg-p", EventKind.LLM_CALL, node="assistant", role="generator", content="reply text",
                 data={"messages_in": [{"role": "user", "content": "secret prompt"}], "attempt": 2},
                 usage=TokenUsage(30, 5))
    store.finish("dlg-p", "accepted")
    page = write_html(store, tmp_path / "p.html").read_text(encoding="utf-8")
    assert "<details><summary>prompt</summary>" in page and "secret prompt" in page
    assert "<td>generator</td><td>1</td><td>30</td><td>5</td>" in page

    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=False)
    render_trace(store, "dlg-p", console)
    text = buffer.getvalue()
    assert "reply text" in text and '"attempt": 2' in text and "30→5" in text
    assert "secret prompt" not in text  # the terminal leaves the prompt out
