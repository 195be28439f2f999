"""``looptool synth ...`` / ``looptool traces ...``: argument errors and the trace viewers."""

from __future__ import annotations

from pathlib import Path

import pytest

from looptool.cli import main
from looptool.traces import EventKind, TraceStore


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    store = TraceStore.for_run(tmp_path)
    store.start("dlg-000001")
    store.record("dlg-000001", EventKind.VERDICT, node="rules", content="step 0: unknown_tool: 'x'")
    store.finish("dlg-000001", "rejected", metadata={"reason": "step 0: unknown_tool: 'x'"})
    store.close()
    return tmp_path


def test_traces_show_and_html(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["traces", "show", str(run_dir)]) == 0
    assert main(["traces", "show", str(run_dir), "--dialogue", "dlg-000001"]) == 0
    assert main(["traces", "html", str(run_dir)]) == 0
    page = (run_dir / "traces.html").read_text(encoding="utf-8")
    assert "dlg-000001" in page and "unknown_tool" in page


def test_traces_errors_name_the_problem(run_dir: Path, tmp_path_factory: pytest.TempPathFactory,
                                        caplog: pytest.LogCaptureFixture) -> None:
    assert main(["traces", "show", str(run_dir), "--dialogue", "nope"]) == 2
    assert "no trace 'nope'" in caplog.text
    empty = tmp_path_factory.mktemp("empty")
    assert main(["traces", "show", str(empty)]) == 2
    assert "no trace store here" in caplog.text


def test_synth_dialogues_rejects_bad_arguments(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert main(["synth", "dialogues", "--n", "0", "--out", str(tmp_path / "a")]) == 2
    assert "--n must be at least 1" in caplog.text
    assert main(["synth", "dialogues", "--n", "2", "--tools", str(tmp_path / "missing.jsonl")]) == 2
    assert "is not a file" in caplog.text
    # a server that does not answer is named before any work starts
    code = main(["synth", "dialogues", "--n", "1", "--out", str(tmp_path / "b"),
                 "--set", "roles.generator.base_urls=[http://127.0.0.1:9/v1]"])
    assert code == 2
    assert "no answer from http://127.0.0.1:9/v1" in caplog.text
    assert not (tmp_path / "b" / "dialogues.jsonl").exists()
