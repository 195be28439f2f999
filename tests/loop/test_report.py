"""The loop's report: reading a run folder (whole or interrupted), the tables, the warnings,
the markdown and the accuracy chart, and several runs side by side."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from looptool.loop.records import LoopMode
from looptool.loop.report import (
    HELDOUT_METRIC,
    RunSource,
    accuracy_series,
    build_report,
    render_markdown,
    render_report,
    report_tables,
    report_warnings,
    write_report,
)
from looptool.loop.run_layout import RunFolderError

from .synthetic_run import EXPAND_WARNING, write_run


def table(report, title_part: str):  # type: ignore[no-untyped-def]
    return next(item for item in report_tables(report) if title_part in item.title)


def row_of(rows: list[list[str]], *key: str) -> list[str]:
    return next(row for row in rows if row[: len(key)] == list(key))


def test_report_merges_run_report_with_newer_iteration_files(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    report = build_report([run])
    view = report.runs[0]
    assert view.source is RunSource.BOTH  # loop iter 2 is only in its iteration.json
    assert view.modes == [LoopMode.LOOP, LoopMode.STATIC]
    assert [summary.iteration for summary in view.iterations(LoopMode.LOOP)] == [1, 2]
    assert view.report.base_heldout_accuracy == 0.25


def test_interrupted_run_is_read_from_iteration_files(tmp_path: Path) -> None:
    run = write_run(tmp_path, with_run_report=False)
    view = build_report([run]).runs[0]
    assert view.source is RunSource.ITERATION_FILES
    assert len(view.report.iterations) == 4 and view.report.base_heldout_accuracy is None
    assert any("interrupted" in warning for warning in report_warnings(build_report([run])))


def test_table3_counts_verdicts_and_yield(tmp_path: Path) -> None:
    report = build_report([write_run(tmp_path)])
    findings = table(report, "Probe and judge")
    first = row_of(findings.rows, "loop", "1")
    columns = findings.columns
    assert first[columns.index("PRED_WRONG")] == "1" and first[columns.index("LABEL_WRONG")] == "1"
    assert first[columns.index("UNJUDGED")] == "0" and first[columns.index("relabeled")] == "1"
    composition = table(report, "Table 3")
    first = row_of(composition.rows, "loop", "1")
    columns = composition.columns
    assert first[columns.index("D^ES")] == "2" and first[columns.index("D^EE")] == "1"
    assert first[columns.index("D^HPPL")] == "1" and first[columns.index("fresh")] == "1"
    assert first[columns.index("expansion yield")] == "1/2 (50%)"
    assert first[columns.index("yield per generator")] == "llm 50%"


def test_accuracy_per_iteration_starts_at_the_base_model(tmp_path: Path) -> None:
    report = build_report([write_run(tmp_path)])
    lines = {(line.mode, line.metric): line.points for line in accuracy_series(report)}
    assert lines[(LoopMode.LOOP, HELDOUT_METRIC)] == {0: 0.25, 1: 0.5, 2: 0.75}
    assert lines[(LoopMode.STATIC, "bfcl_v3")] == pytest.approx({0: 0.2, 1: 0.29, 2: 0.30})
    accuracy = table(report, "Accuracy")
    assert accuracy.columns[-3:] == ["0 (base)", "1", "2"]
    assert row_of(accuracy.rows, "loop", HELDOUT_METRIC)[-3:] == ["25.0%", "50.0%", "75.0%"]


def test_stage_times_and_tokens(tmp_path: Path) -> None:
    report = build_report([write_run(tmp_path)])
    times = table(report, "Wall time")
    second = row_of(times.rows, "loop", "2")
    assert second[times.columns.index("expand")] == "skipped"
    assert second[times.columns.index("total")] == "14.0s"
    tokens = table(report, "Tokens")
    assert row_of(tokens.rows, "loop", "1")[-1] == "4,600"


def test_terminal_rendering_shows_warnings_first(tmp_path: Path) -> None:
    console = Console(record=True, width=220)
    render_report(build_report([write_run(tmp_path)]), console)
    text = console.export_text()
    assert "Warnings: stages that produced nothing" in text.replace("\n", " ")
    assert f"loop/iter_2: {EXPAND_WARNING}" in text
    assert text.index(EXPAND_WARNING) < text.index("Table 3")


def test_write_report_writes_markdown_and_a_png(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    files = write_report(build_report([run]))
    assert files.markdown == run / "report.md"
    markdown = files.markdown.read_text()
    assert "## ⚠ Warnings" in markdown and EXPAND_WARNING in markdown
    assert "| mode | iter | D^ES |" in markdown and "![accuracy per iteration](accuracy.png)" in markdown
    assert files.chart == run / "accuracy.png"
    assert files.chart.stat().st_size > 1000
    assert files.chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_accuracy_means_no_chart(tmp_path: Path) -> None:
    run = write_run(tmp_path, with_run_report=False)
    for summary_file in run.glob("*/iter_*/iteration.json"):
        data = json.loads(summary_file.read_text())
        data.update(heldout_accuracy=None, benchmark_accuracy={})
        summary_file.write_text(json.dumps(data))
    files = write_report(build_report([run]))
    assert files.chart is None and not (run / "accuracy.png").exists()
    assert "![accuracy" not in files.markdown.read_text()


def test_several_runs_side_by_side(tmp_path: Path) -> None:
    first = write_run(tmp_path / "a")
    second = write_run(tmp_path / "b", with_run_report=False)
    report = build_report([first, second])
    labels = [view.label for view in report.runs]
    assert len(set(labels)) == 2  # both folders are named 'run': the full paths tell them apart
    composition = table(report, "Table 3")
    assert composition.columns[0] == "run" and {row[0] for row in composition.rows} == set(labels)
    markdown = render_markdown(report)
    assert f"{labels[1]}: loop/iter_2: {EXPAND_WARNING}" in markdown
    files = write_report(report, tmp_path / "out")
    assert files.markdown.name == "comparison.md" and files.chart is not None and files.chart.exists()
    assert not (first / "report.md").exists()


def test_clear_errors_for_bad_run_folders(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="does not exist"):
        build_report([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="holds no loop run"):
        build_report([tmp_path / "empty"])
    run = write_run(tmp_path)
    (run / "run_report.json").write_text(json.dumps({"run_dir": "x", "heldout_size": "many"}))
    with pytest.raises(RunFolderError, match=r"run_report.json: field 'heldout_size'"):
        build_report([run])
    shutil.rmtree(run / "loop")
    shutil.rmtree(run / "static")
    (run / "run_report.json").unlink()
    with pytest.raises(RunFolderError, match="no finished iteration"):
        build_report([run])
    with pytest.raises(ValueError, match="at least one run"):
        build_report([])
