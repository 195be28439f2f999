"""A sample page asked for while the run is still being read (the warm-up thread, a list
page) reads only that sample's lines, and shows exactly what the full read would show."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from looptool.jsonl import id_needles, iter_jsonl_dicts, iter_jsonl_dicts_with, write_jsonl
from looptool.view.app import ViewApp, resolve_runs
from looptool.view.runfolder import RunFolder
from looptool.view.samples import build_index
from tests.loop.synthetic_run import sample, write_run
from tests.looptool.view.scripted_run import build_run


def _pages(run: Path, *, quick: bool) -> dict[str, tuple[int, bytes]]:
    """Every sample page of ``run`` (and an unknown id's), read quickly or from the full index."""
    app = ViewApp(resolve_runs([run]))
    ids = sorted(build_index(RunFolder.open(run)).rows) + ["no-such-sample"]
    pages = {}
    for sample_id in ids:
        if quick:
            app._indexes.clear()
            app._warming.add(0)  # as while the warm-up thread reads the run
        response = app.handle(f"/run/0/sample/{sample_id}")
        pages[sample_id] = (response.status, response.body)
        if quick:  # read by the byte search, not by the full read (which an unknown id falls back to)
            assert bool(app._indexes) == (sample_id == "no-such-sample")
    return pages


def _lineage_run(tmp_path: Path) -> Path:
    """The lineage tests' run (loop and static modes, relabels, expansions, a drop), plus a
    parent chain deeper than the tree is drawn, a parent cycle, and ids a byte search must
    find in both JSON spellings (non-ASCII as is, and escaped)."""
    run = write_run(tmp_path)
    seeds = list(iter_jsonl_dicts(run / "seed" / "train.jsonl"))
    chain = [sample("c0")] + [sample(f"c{index}", parent_id=f"c{index - 1}") for index in range(1, 12)]
    cycle = [sample("x", parent_id="y"), sample("y", parent_id="x")]
    odd = [sample("søk \"1\""), sample("søk \"1\"/b", parent_id="søk \"1\"")]
    write_jsonl(run / "seed" / "train.jsonl", [*seeds, *chain, *cycle, *odd])
    with (run / "seed" / "train.jsonl").open("a", encoding="utf-8") as stream:  # escaped, as json.dumps writes
        stream.write(json.dumps(sample("ünï", parent_id="søk \"1\"").model_dump(mode="json")) + "\n")
    return run


@pytest.mark.parametrize("make", [lambda tmp: build_run(tmp / "run"), _lineage_run], ids=["scripted", "lineage"])
def test_a_quick_sample_page_equals_the_full_one(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    run = make(tmp_path)
    full, quick = _pages(run, quick=False), _pages(run, quick=True)
    assert len(full) > 5 and quick == full
    assert full["no-such-sample"][0] == 404


def test_a_synthesis_run_sample_page_is_the_same_quick(tmp_path: Path) -> None:
    source = build_run(tmp_path / "run")
    pipeline = tmp_path / "pipeline"
    (pipeline / "synth").mkdir(parents=True)
    shutil.copy(source / "seed" / "train.jsonl", pipeline / "synth" / "samples.jsonl")
    (pipeline / "synth" / "rejects.jsonl").write_text(json.dumps(
        {"dialogue_id": "dlg-000009", "index": 9, "stage": "rules", "reasons": ["missing_call"]}) + "\n",
        encoding="utf-8")
    assert _pages(pipeline, quick=True) == _pages(pipeline, quick=False)


def test_a_sample_page_does_not_wait_while_the_run_is_read(tmp_path: Path) -> None:
    app = ViewApp(resolve_runs([build_run(tmp_path / "run")]))
    answered: list[int] = []
    with app._lock:  # another thread is reading the run for a list page
        asking = threading.Thread(target=lambda: answered.append(app.handle("/run/0/sample/s3").status))
        asking.start()
        asking.join(timeout=30)
        assert answered == [200]
        assert not app._indexes
    assert app.handle("/run/0/samples").status == 200 and app._indexes  # list pages read it all


def test_the_byte_search_reads_only_matching_lines_with_their_numbers(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"id": "a"}\n\n{"id": "ab", "parent_id": "a"}\r\n{"id": "b"}\n{"id": "a", "torn', encoding="utf-8")
    found = list(iter_jsonl_dicts_with(path, id_needles(["a"]), skip_torn_tail=True))
    assert found == [(1, {"id": "a"}), (3, {"id": "ab", "parent_id": "a"})]
    assert list(iter_jsonl_dicts_with(path, id_needles(["zz"]))) == []
    assert id_needles(["é"]) == sorted({'"é"'.encode(), b'"\\u00e9"'})
