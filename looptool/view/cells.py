"""Benchmark cells of a run (base, every iteration, eval-only runs): scores per category
across checkpoints and modes, and one entry's stored model output with the checker's verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from looptool.benchmarks.base import BenchmarkSummary, EntryOutput, EntryScore
from looptool.jsonl import iter_jsonl_dicts
from looptool.view.runfolder import RunFolder


@dataclass(frozen=True)
class Cell:
    """One cell: ``<where>/cells/<model>__<mode>/<benchmark>/``."""

    key: str  # its folder relative to the run
    benchmark: str
    model: str  # <model label>__<mode>
    where: str  # the stage folder holding it (base/eval, loop/iter_1/eval, or "" for eval runs)
    path: Path
    complete: bool | None
    summary: BenchmarkSummary | None

    @property
    def column(self) -> str:
        return f"{self.where} {self.model}".strip()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def find_cells(run: RunFolder) -> list[Cell]:
    cells = []
    for manifest_path in run.cell_manifests():
        folder = manifest_path.parent
        manifest = _read_json(manifest_path) or {}
        summary_data = _read_json(folder / "summary.json")
        try:
            summary = BenchmarkSummary.model_validate(summary_data) if summary_data else None
        except ValueError:
            summary = None
        cells_root = folder.parent.parent
        where = str(cells_root.parent.relative_to(run.path)) if cells_root.parent != run.path else ""
        complete = manifest.get("complete")
        cells.append(Cell(
            key=str(folder.relative_to(run.path)), benchmark=folder.name, model=folder.parent.name,
            where=where.removesuffix("/benchmarks"), path=folder,
            complete=complete if isinstance(complete, bool) else None, summary=summary,
        ))
    return cells


def score_grid(cells: list[Cell]) -> dict[str, tuple[list[Cell], list[tuple[str, dict[str, float]]]]]:
    """Per benchmark: its cells (columns) and rows ``(row name, {cell key: score})``."""
    grid: dict[str, tuple[list[Cell], list[tuple[str, dict[str, float]]]]] = {}
    for cell in cells:
        columns, rows = grid.setdefault(cell.benchmark, ([], []))
        columns.append(cell)
        for summary_row in cell.summary.rows if cell.summary else []:
            name = summary_row.name + (f" [{summary_row.variant}]" if summary_row.variant else "")
            for row_name, scores in rows:
                if row_name == name:
                    scores[cell.key] = summary_row.score
                    break
            else:
                rows.append((name, {cell.key: summary_row.score}))
    return grid


def cell_by_key(run: RunFolder, key: str) -> Cell | None:
    return next((cell for cell in find_cells(run) if cell.key == key), None)


def cell_scores(cell: Cell) -> list[EntryScore]:
    scores = []
    path = cell.path / "scores.jsonl"
    if path.is_file():
        for data in iter_jsonl_dicts(path, skip_torn_tail=True):
            try:
                scores.append(EntryScore.model_validate(data))
            except ValueError:
                continue
    return scores


def entry_output(cell: Cell, entry_id: str) -> EntryOutput | None:
    """The entry's stored output (the last line for it wins, as the runner reads them)."""
    found = None
    path = cell.path / "outputs.jsonl"
    if path.is_file():
        for data in iter_jsonl_dicts(path, skip_torn_tail=True):
            if data.get("entry_id") == entry_id:
                try:
                    found = EntryOutput.model_validate(data)
                except ValueError:
                    continue
    return found
