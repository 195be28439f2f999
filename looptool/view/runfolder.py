"""What a run folder holds, found by looking: its kind, config, stages, trace stores and
benchmark cells. Works on finished, running, interrupted, static-pipeline and eval-only runs.

Nothing here parses big files; :func:`fingerprint` stats the files a reader depends on, so
a cached view is rebuilt exactly when the run wrote something new.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from looptool.errors import UserError
from looptool.loop.run_layout import RUN_REPORT_FILE, SEED_DIR, IterationFolder, iteration_folders
from looptool.traces import TRACE_FILE

#: The stages of one loop iteration, in the order they run.
ITERATION_STAGES = ("train", "probe", "eval", "judge", "expand", "compose")
#: How deep trace stores and benchmark cells are looked for (RUN/loop/iter_1/eval/benchmarks/cells).
_SEARCH_DEPTH = 5
_SECRET_KEY = re.compile(r"(api_key|token|secret|password)", re.I)


class RunKind(StrEnum):
    LOOP = "loop run"
    PIPELINE = "static pipeline run"
    EVAL = "evaluation run"
    SYNTH = "synthesis run"
    OTHER = "run folder"


class StageStatus(StrEnum):
    DONE = "done"
    RUNNING = "running"  # its folder exists, no done marker yet (running, or interrupted)
    PENDING = "pending"


@dataclass(frozen=True)
class StageState:
    """One stage of a run folder: status, wall time and summary from its done marker."""

    name: str
    status: StageStatus
    seconds: float | None = None
    finished_at: str | None = None


@dataclass(frozen=True)
class RunFolder:
    """A run folder given on the command line, with a short label for pages."""

    path: Path
    label: str

    @classmethod
    def open(cls, path: str | Path, label: str | None = None) -> RunFolder:
        """A clear :class:`UserError` when ``path`` is missing or not a folder."""
        folder = Path(path)
        if not folder.exists():
            raise UserError(f"{folder}: no such run folder")
        if not folder.is_dir():
            raise UserError(f"{folder} is a file, not a run folder")
        return cls(folder, label or folder.resolve().name)

    @property
    def kind(self) -> RunKind:
        if (self.path / RUN_REPORT_FILE).exists() or (self.path / SEED_DIR).is_dir() or self.iterations():
            return RunKind.LOOP
        if (self.path / "pipeline_report.json").exists() or (self.path / "synth").is_dir():
            return RunKind.PIPELINE
        if (self.path / "cells").is_dir():
            return RunKind.EVAL
        if (self.path / "samples.jsonl").exists() or (self.path / "rejects.jsonl").exists():
            return RunKind.SYNTH
        return RunKind.OTHER

    def iterations(self) -> list[IterationFolder]:
        return iteration_folders(self.path)

    def config_text(self) -> str | None:
        """``config.yaml`` with secret-looking values masked (None when there is none)."""
        config = self.path / "config.yaml"
        if not config.is_file():
            return None
        lines = []
        for line in config.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and _SECRET_KEY.search(key) and value.strip() not in ("", "EMPTY", "null", "~"):
                line = f"{key}: '***'"
            lines.append(line)
        return "\n".join(lines)

    def stage(self, name: str) -> StageState:
        """State of stage ``name`` (``seed``, ``loop/iter_1/probe``, ...) from its folder and marker."""
        marker = self.path / f"{name}.done"
        if marker.is_file():
            try:
                record = json.loads(marker.read_text(encoding="utf-8"))
            except ValueError:
                record = {}
            seconds = record.get("seconds") if isinstance(record, dict) else None
            finished = record.get("finished_at") if isinstance(record, dict) else None
            return StageState(name, StageStatus.DONE, seconds if isinstance(seconds, int | float) else None,
                              finished if isinstance(finished, str) else None)
        if (self.path / name).exists():
            return StageState(name, StageStatus.RUNNING)
        return StageState(name, StageStatus.PENDING)

    def top_stages(self) -> list[StageState]:
        """Stages directly under the run folder (seed, base/eval, synth, train, ...)."""
        names = sorted({marker.name.removesuffix(".done") for marker in self.path.glob("*.done")})
        base = self.path / "base"
        names += [f"base/{m.name.removesuffix('.done')}" for m in sorted(base.glob("*.done"))] if base.is_dir() else []
        if (base / "eval").is_dir() and "base/eval" not in names:
            names.append("base/eval")
        return [self.stage(name) for name in names]

    def iteration_stages(self, folder: IterationFolder) -> list[StageState]:
        prefix = f"{folder.mode.value}/iter_{folder.iteration}"
        return [self.stage(f"{prefix}/{name}") for name in ITERATION_STAGES]

    def trace_stores(self) -> list[Path]:
        """Every ``traces.sqlite`` in the run folder (the run's own, ``synth/``, stage folders)."""
        return _find(self.path, TRACE_FILE)

    def cell_manifests(self) -> list[Path]:
        """Every benchmark cell's ``cell.json`` (``cells/<model>__<mode>/<benchmark>/cell.json``)."""
        return [path for path in _find(self.path, "cell.json") if path.parent.parent.parent.name == "cells"]

    def chart(self) -> Path | None:
        for name in ("accuracy.png", "comparison.png", "chart.png", "eval/chart.png"):
            if (self.path / name).is_file():
                return self.path / name
        return None


def _find(root: Path, name: str) -> list[Path]:
    """``name`` at depth 0.._SEARCH_DEPTH+2 below ``root``, skipping model and checkpoint folders."""
    found: list[Path] = []
    frontier = [root]
    for _ in range(_SEARCH_DEPTH + 3):
        following: list[Path] = []
        for folder in frontier:
            candidate = folder / name
            if candidate.is_file():
                found.append(candidate)
            try:
                children = sorted(folder.iterdir())
            except OSError:
                continue
            following += [child for child in children
                          if child.is_dir() and child.name not in ("model", "checkpoints", "adapter", "serving")]
        frontier = following
    return found


def fingerprint(paths: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime, size) of each existing file: equal fingerprints mean nothing was written."""
    stats = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        stats.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(stats)
