"""Export a loop dataset (a JSONL of Samples) as a Hugging Face ``datasets`` folder.

The folder holds ``data/train-0000k-of-0000n.parquet`` and a dataset card ``README.md``
(YAML header so ``load_dataset(folder)`` finds the files; sources, counts, columns, and the
run and iteration it came from). One row per sample; structured fields are JSON text so the
columns keep one type whatever the tools look like::

    export_iteration("runs/demo", mode="loop", iteration=2)   # -> runs/demo/export/loop_iter_2/
    datasets.load_dataset("parquet", data_files="runs/demo/export/loop_iter_2/data/*.parquet")
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looptool.jsonl import read_jsonl, write_text_atomic
from looptool.loop.records import LoopMode
from looptool.loop.run_layout import check_run_dir, find_iteration
from looptool.schema import Lineage, Sample

EXPORT_DIR = "export"
DATA_DIR = "data"
DEFAULT_ROWS_PER_SHARD = 50_000

#: the columns every export has, before the flattened lineage fields
BASE_COLUMNS: dict[str, str] = {
    "id": "the sample id (unique in the file)",
    "tools": "the offered tools, OpenAI function format (JSON text: list of specs)",
    "context": "the conversation before the labelled turn (JSON text: list of messages)",
    "label_kind": "`calls` or `text`",
    "label_calls": "the expected tool calls (JSON text: list of {name, arguments}; `[]` for a text label)",
    "label_text": "the expected text reply (null for a tool-call label)",
    "metadata": "source-specific data (JSON text: object)",
    "schema_version": "LoopTool data-model version of the sample",
}
LINEAGE_DESCRIPTIONS: dict[str, str] = {
    "origin": "what made the sample: seed, imported, expanded, relabeled, prediction_wrong, high_ppl",
    "parent_id": "the sample it was made from (expansions, relabels)",
    "iteration": "the loop iteration that made it (0: seed)",
    "stage": "the stage that made it",
    "notes": "free-text lineage notes (e.g. the label a relabel replaced)",
    "source_item": "the source item it came from (template id, dialogue id, file:line)",
}


class ExportError(ValueError):
    """The dataset cannot be exported (empty input, output folder already there)."""


@dataclass(frozen=True)
class ExportSource:
    """Where the exported samples came from, for the dataset card."""

    file: Path
    run_dir: Path | None = None
    mode: LoopMode | None = None
    iteration: int | None = None

    def describe(self) -> str:
        if self.run_dir is not None and self.mode is not None:
            return f"run `{self.run_dir}`, mode `{self.mode.value}`, iteration {self.iteration} (`{self.file}`)"
        return f"`{self.file}`"


@dataclass(frozen=True)
class ExportResult:
    """The exported folder, its parquet files and what it holds."""

    out_dir: Path
    parquet_files: list[Path]
    card: Path
    rows: int
    columns: list[str]
    origins: dict[str, int] = field(default_factory=dict)


def lineage_columns() -> list[str]:
    """The lineage fields, flattened into columns of their own name."""
    return list(Lineage.model_fields)


def _column_value(value: Any) -> Any:
    """Scalars and lists of strings as they are; anything else as JSON text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def sample_row(sample: Sample) -> dict[str, Any]:
    """One sample as a flat row (see :data:`BASE_COLUMNS` and the lineage columns)."""
    data = sample.model_dump(mode="json")
    row: dict[str, Any] = {
        "id": sample.id,
        "tools": json.dumps(data["tools"], ensure_ascii=False),
        "context": json.dumps(data["context"], ensure_ascii=False),
        "label_kind": sample.label_kind,
        "label_calls": json.dumps(data["label_calls"], ensure_ascii=False),
        "label_text": sample.label_text,
        "metadata": json.dumps(data["metadata"], ensure_ascii=False, sort_keys=True),
        "schema_version": sample.schema_version,
    }
    for name, value in data["lineage"].items():
        row[name] = _column_value(value)
    return row


def _counts_table(title: str, counts: Counter[str]) -> list[str]:
    lines = [f"### {title}", "", "| value | samples |", "|---|---:|"]
    lines.extend(f"| {name} | {count} |" for name, count in counts.most_common())
    return [*lines, ""]


def dataset_card(samples: Sequence[Sample], source: ExportSource, shards: list[str]) -> str:
    """The dataset card: YAML header (data files), provenance, counts and the columns."""
    origins = Counter(sample.lineage.origin.value for sample in samples)
    stages = Counter(sample.lineage.stage for sample in samples)
    iterations = Counter(str(sample.lineage.iteration) for sample in samples)
    kinds: Counter[str] = Counter(sample.label_kind for sample in samples)
    tools = {tool.name for sample in samples for tool in sample.tools}
    title = (
        f"LoopTool {source.mode.value} iteration {source.iteration}"
        if source.mode is not None
        else f"LoopTool samples from {source.file.name}"
    )
    lines = [
        "---",
        f"pretty_name: {json.dumps(title)}",
        "tags: [tool-use, function-calling, looptool]",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        f"    path: {DATA_DIR}/train-*.parquet",
        "---",
        "",
        f"# {title}",
        "",
        f"Exported by LoopTool from {source.describe()}: {len(samples)} samples, "
        f"{len(tools)} distinct tools, {len(shards)} parquet file(s) under `{DATA_DIR}/`.",
        "",
        "```python",
        "import datasets, json",
        f'ds = datasets.load_dataset("parquet", data_files="{DATA_DIR}/*.parquet", split="train")',
        "json.loads(ds[0]['tools'])  # structured columns are JSON text",
        "```",
        "",
        "## Sources and counts",
        "",
        *_counts_table("Lineage origin", origins),
        *_counts_table("Stage that made the sample", stages),
        *_counts_table("Iteration that made the sample", iterations),
        *_counts_table("Label kind", kinds),
        "## Columns",
        "",
        "| column | meaning |",
        "|---|---|",
        *(f"| `{name}` | {text} |" for name, text in BASE_COLUMNS.items()),
        *(
            f"| `{name}` | lineage: {LINEAGE_DESCRIPTIONS.get(name, 'lineage field ' + name)} |"
            for name in lineage_columns()
        ),
        "",
        "Every row keeps its lineage: `parent_id` leads to the sample it was made from, and "
        "`looptool lineage RUN SAMPLE_ID` shows the full history in the run folder.",
        "",
    ]
    return "\n".join(lines)


def export_samples(
    samples: Sequence[Sample],
    out_dir: str | Path,
    source: ExportSource,
    *,
    overwrite: bool = False,
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
) -> ExportResult:
    """Write ``samples`` as a datasets folder at ``out_dir``.

    The folder is built beside ``out_dir`` and moved into place when complete, so a failed
    export leaves nothing half-written; an existing ``out_dir`` is replaced only with
    ``overwrite``."""
    import datasets

    target = Path(out_dir)
    if not samples:
        raise ExportError(f"nothing to export: {source.file} holds no samples")
    if rows_per_shard < 1:
        raise ExportError(f"rows_per_shard must be at least 1, got {rows_per_shard}")
    duplicates = [name for name, count in Counter(sample.id for sample in samples).items() if count > 1]
    if duplicates:
        raise ExportError(f"{source.file}: sample ids appear more than once: {', '.join(sorted(duplicates)[:5])}")
    if target.exists() and not overwrite:
        raise ExportError(f"{target} already exists (pass overwrite to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = [sample_row(sample) for sample in samples]
    total = (len(rows) + rows_per_shard - 1) // rows_per_shard
    shard_names = [f"train-{index:05d}-of-{total:05d}.parquet" for index in range(total)]
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        (building / DATA_DIR).mkdir()
        for index, name in enumerate(shard_names):
            chunk = rows[index * rows_per_shard : (index + 1) * rows_per_shard]
            datasets.Dataset.from_list(chunk).to_parquet(str(building / DATA_DIR / name))
        write_text_atomic(building / "README.md", dataset_card(samples, source, shard_names))
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    _move_into_place(building, target)
    return ExportResult(
        out_dir=target,
        parquet_files=[target / DATA_DIR / name for name in shard_names],
        card=target / "README.md",
        rows=len(rows),
        columns=list(rows[0]),
        origins=dict(Counter(sample.lineage.origin.value for sample in samples)),
    )


def _move_into_place(built: Path, target: Path) -> None:
    """Replace ``target`` by ``built``; the old folder is deleted only once the new one is there."""
    if not target.exists():
        built.replace(target)
        return
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    target.replace(old)
    built.replace(target)
    shutil.rmtree(old, ignore_errors=True)


def export_jsonl(path: str | Path, out_dir: str | Path, *, overwrite: bool = False) -> ExportResult:
    """Export any JSONL of Samples (e.g. ``RUN/seed/train.jsonl``)."""
    source = Path(path)
    return export_samples(read_jsonl(source, Sample), out_dir, ExportSource(file=source), overwrite=overwrite)


def export_iteration(
    run_dir: str | Path,
    iteration: int,
    *,
    mode: LoopMode | str = LoopMode.LOOP,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Export D_j of ``mode`` (``RUN/<mode>/iter_<j>/data.jsonl``); default output folder
    ``RUN/export/<mode>_iter_<j>/``."""
    run = check_run_dir(run_dir)
    folder = find_iteration(run, mode, iteration)
    if not folder.data.exists():
        raise ExportError(f"{folder.data} does not exist (iteration {folder.label} has no data yet)")
    target = Path(out_dir) if out_dir is not None else run / EXPORT_DIR / f"{folder.mode.value}_iter_{iteration}"
    source = ExportSource(file=folder.data, run_dir=run, mode=folder.mode, iteration=iteration)
    return export_samples(read_jsonl(folder.data, Sample), target, source, overwrite=overwrite)
