"""The run folder's stage API: nesting, done only after success, timing in the marker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from looptool.jsonl import write_jsonl
from looptool.rundir import RunDir, StageRecord


def test_nested_stages_have_their_own_folders_and_markers(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    probe = run.stage("iter_1/probe")
    assert probe == run.stage("iter_1").stage("probe")
    assert probe.path == tmp_path / "iter_1" / "probe"
    assert probe.marker == tmp_path / "iter_1" / "probe.done"
    assert probe.file("probe.jsonl") == tmp_path / "iter_1" / "probe" / "probe.jsonl"
    assert probe.path.is_dir()
    assert not probe.done and probe.record() is None

    with probe.timed() as timing:
        write_jsonl(probe.file("probe.jsonl"), [{"id": "s1"}])
        assert not probe.done  # not before the block returns
        time.sleep(0.05)
        timing.summary["records"] = 1
    assert probe.done and run.is_done("iter_1/probe")
    assert not run.stage("iter_1").done and not run.stage("iter_1/train").done
    record = probe.record()
    assert record is not None and record.stage == "iter_1/probe" and record.summary == {"records": 1}
    assert record.seconds is not None and 0.05 <= record.seconds < 5
    assert timing.seconds is not None and timing.record == record
    on_disk = json.loads(probe.marker.read_text())
    assert on_disk["seconds"] == record.seconds and on_disk["finished_at"].endswith("+00:00")


def test_a_raising_stage_is_not_done_and_a_redone_stage_is_unmarked_until_it_succeeds(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    train = run.stage("iter_2/train")
    with pytest.raises(RuntimeError, match="out of memory"), train.timed():
        raise RuntimeError("out of memory")
    assert not train.done and not train.marker.exists()

    with pytest.raises(KeyboardInterrupt), train.timed():  # Ctrl-C is not success either
        raise KeyboardInterrupt
    assert not train.done

    with train.timed():
        pass
    assert train.done
    with pytest.raises(ValueError), train.timed():  # redoing a done stage that then fails
        raise ValueError("bad data")
    assert not train.done


def test_mark_done_and_markers_written_before_stage_records(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    record = run.mark_done("api_synthesis", {"accepted": 3})
    assert run.is_done("api_synthesis") and record.seconds is None
    assert run.stage("api_synthesis").record() == record
    (tmp_path / "synth.done").write_text('{"seconds": 12.5}\n')  # an older marker
    old = run.stage("synth").record()
    assert old is not None and old.seconds == 12.5 and old.summary == {"seconds": 12.5}
    assert StageRecord.model_validate_json((tmp_path / "api_synthesis.done").read_text()).summary == {"accepted": 3}


@pytest.mark.parametrize("name", ["", "/abs", "iter_1/", "a//b", "../up", "iter_1/../x", ".hidden", "a b"])
def test_bad_stage_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="invalid stage name"):
        RunDir(tmp_path).stage(name)
    with pytest.raises(ValueError, match="invalid stage name"):
        RunDir(tmp_path).stage("ok").stage(name)
