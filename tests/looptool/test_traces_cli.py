"""``looptool traces show`` / ``traces html`` from the kernel CLI on a small trace store."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from looptool.cli import COMMAND_MODULES, build_parser, main
from looptool.traces import EventKind, TokenUsage, TraceStore


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    store = TraceStore.for_run(tmp_path)
    store.start("dlg-000001")
    store.record("dlg-000001", EventKind.LLM_CALL, node="assistant", role="generator",
                 content="I will call add.", usage=TokenUsage(40, 6))
    store.record("dlg-000001", EventKind.VERDICT, node="rules", content="step 0: unknown_tool: 'x'")
    store.finish("dlg-000001", "rejected", metadata={"reason": "step 0: unknown_tool: 'x'"})
    store.start("dlg-000002")
    store.finish("dlg-000002", "accepted")
    store.close()
    return tmp_path


def test_traces_is_a_kernel_command() -> None:
    assert "looptool.traces_cli" in COMMAND_MODULES
    args = build_parser().parse_args(["traces", "show", "runs/x"])
    assert args.handler.__module__ == "looptool.traces_cli"


def test_traces_show_summary_and_one_trace(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr("looptool.traces_cli.console", Console(file=screen, width=200))
    assert main(["traces", "show", str(run_dir)]) == 0
    summary = screen.getvalue()
    assert "2 traces" in summary and "accepted=1" in summary and "rejected=1" in summary
    assert "generator" in summary  # the model-calls-by-role table

    screen.seek(0)
    screen.truncate()
    assert main(["traces", "show", str(run_dir), "--dialogue", "dlg-000001"]) == 0
    one = screen.getvalue()
    assert "unknown_tool" in one and "I will call add." in one
    assert "dlg-000002" not in one


def test_traces_html_default_and_filtered(run_dir: Path) -> None:
    assert main(["traces", "html", str(run_dir)]) == 0
    page = (run_dir / "traces.html").read_text(encoding="utf-8")
    assert "dlg-000001" in page and "dlg-000002" in page and "unknown_tool" in page

    # a traces.sqlite path works too; --status and -o as documented
    target = run_dir / "rejected.html"
    code = main(["traces", "html", str(run_dir / "traces.sqlite"), "--status", "rejected", "-o", str(target)])
    assert code == 0
    page = target.read_text(encoding="utf-8")
    assert "dlg-000001" in page and "dlg-000002" not in page
    assert "showing 1 of 1 traces with status rejected" in page


def test_traces_errors_name_the_problem(run_dir: Path, tmp_path_factory: pytest.TempPathFactory,
                                        caplog: pytest.LogCaptureFixture) -> None:
    assert main(["traces", "show", str(run_dir), "--dialogue", "nope"]) == 2
    assert "no trace 'nope'" in caplog.text
    empty = tmp_path_factory.mktemp("empty")
    assert main(["traces", "show", str(empty)]) == 2
    assert "no trace store here" in caplog.text
    assert main(["traces", "html", str(empty / "missing")]) == 2
    assert "no such run folder" in caplog.text
    assert not (empty / "traces.html").exists()
