"""Resumable storage of one evaluation cell (one model+mode x one benchmark).

Layout under the run folder::

    cells/<model>__<mode>/<benchmark>/
        outputs.jsonl   append-only raw model outputs, one EntryOutput per line (fsynced);
                        a torn last line left by a kill is cut off before the next append;
                        a garbage line elsewhere is reported as file:line and skipped
        scores.jsonl    EntryScore per entry (rewritten atomically at each scoring)
        summary.json    BenchmarkSummary
        cell.json       CellManifest: what was asked (benchmark version, categories, limit,
                        options, model), the identity of the outputs (settings that change
                        them: see runner/identity.py) and whether every entry has an output
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from looptool.benchmarks.base import BenchmarkSummary, EntryOutput, EntryScore
from looptool.benchmarks.runner.identity import CellIdentity
from looptool.jsonl import read_jsonl, write_json_atomic, write_jsonl

log = logging.getLogger(__name__)

CELLS_DIR = "cells"


class CellRequest(BaseModel):
    """What a cell evaluates; a finished cell is reused only for the same request."""

    model_config = ConfigDict(extra="forbid")

    benchmark: str
    benchmark_version: str
    categories: list[str]
    limit: int | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class CellManifest(BaseModel):
    """``cell.json``: what was asked, what produced the outputs (``identity``), progress."""

    model_config = ConfigDict(extra="forbid")

    request: CellRequest
    identity: CellIdentity | None = None
    model: dict[str, Any] = Field(description="the ModelEndpoint (api key removed)")
    checkpoint: str | None = None
    entries: int = 0
    outputs: int = 0
    failed: int = 0
    complete: bool = False
    requests: int = 0
    wall_s: float = 0.0


class CellStore:
    """The files of one cell. ``append`` is safe to call after a crash left a torn line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.outputs_file = path / "outputs.jsonl"
        self.scores_file = path / "scores.jsonl"
        self.summary_file = path / "summary.json"
        self.manifest_file = path / "cell.json"

    @classmethod
    def for_cell(cls, run_dir: Path, model_cell: str, benchmark: str) -> CellStore:
        return cls(run_dir / CELLS_DIR / model_cell / benchmark)

    # -- outputs

    def _repair_tail(self) -> None:
        """Cut an unterminated last line (a killed append) so the next line starts clean."""
        if not self.outputs_file.exists():
            return
        with self.outputs_file.open("rb+") as stream:
            size = stream.seek(0, os.SEEK_END)
            if size == 0:
                return
            stream.seek(size - 1)
            if stream.read(1) == b"\n":
                return
            stream.seek(0)
            data = stream.read()
            keep = data.rfind(b"\n") + 1
            log.warning("%s: dropping a torn last line (%d bytes)", self.outputs_file, len(data) - keep)
            stream.truncate(keep)
            stream.flush()
            os.fsync(stream.fileno())

    def append(self, output: EntryOutput) -> None:
        self._repair_tail()
        self.path.mkdir(parents=True, exist_ok=True)
        with self.outputs_file.open("a", encoding="utf-8") as stream:
            stream.write(output.model_dump_json() + "\n")
            stream.flush()
            os.fsync(stream.fileno())

    def outputs(self) -> dict[str, EntryOutput]:
        """Stored outputs by entry id. The last line of an entry wins; a torn last line (a
        killed append) is ignored; any other line that is not an EntryOutput (garbage in the
        middle of the file) is skipped with a warning naming ``file:line``, the rest still
        scores, and the skipped entry has no output, so the next eval re-runs it."""
        if not self.outputs_file.exists():
            return {}
        found: dict[str, EntryOutput] = {}
        lines = self.outputs_file.read_bytes().split(b"\n")
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            if number == len(lines):  # no newline after it: a torn tail, cut before the next append
                continue
            try:
                output = EntryOutput.model_validate_json(raw)
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(part) for part in first.get("loc", ())) or "line"
                log.warning(
                    "%s:%d: not an entry output (%s: %s); skipped, its entry will be re-run",
                    self.outputs_file, number, where, first["msg"],
                )
                continue
            found[output.entry_id] = output
        return found

    # -- scores, summary, manifest

    def write_scores(self, scores: list[EntryScore], summary: BenchmarkSummary) -> None:
        write_jsonl(self.scores_file, scores)
        write_json_atomic(self.summary_file, summary.model_dump(mode="json"))

    def scores(self) -> list[EntryScore]:
        return read_jsonl(self.scores_file, EntryScore) if self.scores_file.exists() else []

    def summary(self) -> BenchmarkSummary | None:
        if not self.summary_file.exists():
            return None
        return BenchmarkSummary.model_validate(json.loads(self.summary_file.read_text(encoding="utf-8")))

    def manifest(self) -> CellManifest | None:
        if not self.manifest_file.exists():
            return None
        try:
            return CellManifest.model_validate(json.loads(self.manifest_file.read_text(encoding="utf-8")))
        except (ValueError, ValidationError):
            log.warning("%s is unreadable; the cell will be re-checked", self.manifest_file)
            return None

    def write_manifest(self, manifest: CellManifest) -> None:
        write_json_atomic(self.manifest_file, manifest.model_dump(mode="json"))

    def is_finished(self, request: CellRequest) -> bool:
        manifest = self.manifest()
        return (
            manifest is not None
            and manifest.complete
            and manifest.request == request
            and self.summary_file.exists()
            and self.scores_file.exists()
            and len(self.outputs()) >= manifest.outputs  # no line lost or garbled since
        )


def find_cells(run_dir: Path) -> list[CellStore]:
    """Every cell with a manifest under ``run_dir``, in a stable order."""
    root = run_dir / CELLS_DIR
    if not root.is_dir():
        return []
    return [CellStore(path.parent) for path in sorted(root.glob("*/*/cell.json"))]
