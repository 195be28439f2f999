"""Export of an iteration's dataset as a Hugging Face datasets folder (parquet + card),
read back with ``datasets.load_dataset``."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from looptool.jsonl import read_jsonl
from looptool.loop.export import (
    ExportError,
    export_iteration,
    export_jsonl,
    lineage_columns,
    sample_row,
)
from looptool.loop.run_layout import RunFolderError
from looptool.schema import Sample

from .synthetic_run import write_run


def load_rows(folder: Path, cache: Path) -> list[dict[str, object]]:
    loaded = datasets.load_dataset(
        "parquet", data_files=str(folder / "data" / "*.parquet"), split="train", cache_dir=str(cache)
    )
    return [dict(row) for row in loaded]


def test_export_reads_back_with_the_same_rows(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    result = export_iteration(run, 2)
    assert result.out_dir == run / "export" / "loop_iter_2"
    samples = read_jsonl(run / "loop" / "iter_2" / "data.jsonl", Sample)
    assert result.rows == len(samples) == 5
    rows = load_rows(result.out_dir, tmp_path / "cache")
    assert rows == [sample_row(item) for item in samples]
    by_id = {row["id"]: row for row in rows}
    assert by_id["s2.e1"]["origin"] == "expanded" and by_id["s2.e1"]["parent_id"] == "s2"
    assert by_id["s3.r1"]["notes"] == ['old label: get_weather({"city": "Oslo"})']
    assert json.loads(str(by_id["s2.e1"]["label_calls"])) == [
        {"name": "get_weather", "arguments": {"city": "Turin"}, "id": None}
    ]
    assert json.loads(str(by_id["s1"]["tools"]))[0]["name"] == "get_weather"
    assert set(lineage_columns()) <= set(result.columns)
    assert {"id", "tools", "context", "label_calls", "label_text"} <= set(result.columns)


def test_dataset_card_names_sources_counts_and_provenance(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    card = export_iteration(run, 2).card.read_text()
    assert card.startswith("---\n") and "path: data/train-*.parquet" in card
    assert f"run `{run}`, mode `loop`, iteration 2" in card
    for origin in ("prediction_wrong", "relabeled", "expanded", "high_ppl", "seed"):
        assert f"| {origin} | 1 |" in card
    assert "| `parent_id` | lineage:" in card and "| `origin` | lineage:" in card


def test_the_folder_loads_by_its_card(tmp_path: Path) -> None:
    result = export_iteration(write_run(tmp_path), 1, mode="static")
    loaded = datasets.load_dataset(str(result.out_dir), split="train", cache_dir=str(tmp_path / "cache"))
    assert sorted(loaded["id"]) == ["s1", "s2", "s3"]


def test_shards_and_any_jsonl(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    out = tmp_path / "seed_export"
    from looptool.loop import export as export_module

    result = export_module.export_samples(
        read_jsonl(run / "seed" / "train.jsonl", Sample), out,
        export_module.ExportSource(file=run / "seed" / "train.jsonl"), rows_per_shard=3,
    )
    assert [path.name for path in result.parquet_files] == [
        "train-00000-of-00002.parquet", "train-00001-of-00002.parquet"
    ]
    assert [row["id"] for row in load_rows(out, tmp_path / "cache")] == ["s1", "s2", "s3", "s4"]
    again = export_jsonl(run / "seed" / "heldout.jsonl", tmp_path / "heldout")
    assert again.rows == 1 and "samples from heldout.jsonl" in again.card.read_text()


def test_existing_output_is_kept_unless_overwrite(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    first = export_iteration(run, 1)
    with pytest.raises(ExportError, match="already exists"):
        export_iteration(run, 1)
    assert first.parquet_files[0].exists()
    replaced = export_iteration(run, 1, overwrite=True)
    assert replaced.rows == 3 and not list(first.out_dir.parent.glob(".*"))


def test_clear_errors(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    with pytest.raises(RunFolderError, match=r"no loop/iter_7 \(iterations there: loop/iter_1, loop/iter_2"):
        export_iteration(run, 7)
    with pytest.raises(RunFolderError, match="unknown loop mode 'lop'"):
        export_iteration(run, 1, mode="lop")
    (run / "loop" / "iter_2" / "data.jsonl").write_text("")
    with pytest.raises(ExportError, match="holds no samples"):
        export_iteration(run, 2)
    (run / "loop" / "iter_2" / "data.jsonl").unlink()
    with pytest.raises(ExportError, match="has no data yet"):
        export_iteration(run, 2)
