"""Run folders: one per command invocation, holding the resolved config, logs and stages.

A *stage* is a named step of a run with its own folder; names nest with ``/``
(``run.stage("iter_1/probe")`` or ``run.stage("iter_1").stage("probe")``). A stage is done
when its marker ``<name>.done`` (beside its folder) exists; the marker holds a
:class:`StageRecord` (wall time, finish time, summary). ``with stage.timed():`` times the
block and writes the marker only when the block returns, so a stage that raises (or is
killed) is not done and runs again on resume. Write a stage's outputs atomically
(:mod:`looptool.jsonl`) inside the block::

    probe = run.stage("iter_1/probe")
    if not probe.done:
        with probe.timed() as timing:
            write_jsonl(probe.file("probe.jsonl"), records)
            timing.summary["records"] = len(records)
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from looptool.config import LoopToolConfig, dump_config
from looptool.jsonl import DataFileError, write_text_atomic

log = logging.getLogger(__name__)

_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _checked_name(name: str) -> str:
    """A stage name: ``/``-separated segments of letters, digits, ``_ . -`` (no ``..``)."""
    segments = name.split("/")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            raise ValueError(
                f"invalid stage name {name!r}: use '/'-separated parts of letters, digits, "
                "'_', '.' and '-' (e.g. 'iter_1/probe'), not starting with '.', '-' or '/'"
            )
    return name


class StageRecord(BaseModel):
    """The content of a stage's done marker."""

    model_config = ConfigDict(extra="forbid")

    stage: str
    seconds: float | None = Field(default=None, description="wall time of the run that finished it; None when not timed")
    finished_at: str = Field(description="ISO 8601 (UTC) time it was marked done")
    summary: dict[str, Any] = Field(default_factory=dict)


@dataclass
class RunningStage:
    """What ``Stage.timed()`` yields: fill ``summary``; ``seconds`` and ``record`` are set on success."""

    stage: Stage
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    record: StageRecord | None = None


@dataclass(frozen=True)
class Stage:
    """A named (possibly nested) stage of a run folder."""

    run_path: Path
    name: str

    def __post_init__(self) -> None:
        _checked_name(self.name)

    @property
    def path(self) -> Path:
        """The stage's own folder (``RUN/<name>``; created by :meth:`file` or the stage's writers)."""
        return self.run_path / self.name

    @property
    def marker(self) -> Path:
        return self.run_path / f"{self.name}.done"

    @property
    def done(self) -> bool:
        return self.marker.exists()

    def stage(self, name: str) -> Stage:
        """A sub-stage: ``run.stage("iter_1").stage("probe")`` is ``run.stage("iter_1/probe")``."""
        return Stage(self.run_path, f"{self.name}/{_checked_name(name)}")

    def file(self, name: str) -> Path:
        """A path inside the stage's folder (its parent folders are created)."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def record(self) -> StageRecord | None:
        """The done marker's record; None while the stage is not done."""
        if not self.done:
            return None
        text = self.marker.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataFileError(f"{self.marker}: invalid JSON in a stage marker ({error.msg})") from None
        if not isinstance(data, dict):
            raise DataFileError(f"{self.marker}: a stage marker must hold a JSON object")
        try:
            return StageRecord.model_validate(data)
        except ValidationError:  # a marker written before StageRecord: its content is the summary
            seconds = data.get("seconds")
            finished = datetime.fromtimestamp(self.marker.stat().st_mtime, UTC)
            return StageRecord(stage=self.name, seconds=seconds if isinstance(seconds, int | float) else None,
                               finished_at=finished.isoformat(timespec="seconds"), summary=data)

    def mark_done(self, summary: dict[str, Any] | None = None, *, seconds: float | None = None) -> StageRecord:
        """Write the done marker (atomically). Call it only once the stage's outputs are complete."""
        record = StageRecord(
            stage=self.name,
            seconds=None if seconds is None else round(seconds, 3),
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
            summary=summary or {},
        )
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.marker, record.model_dump_json(indent=2, fallback=str) + "\n")
        return record

    def reset(self) -> None:
        """Forget that the stage is done (its outputs are left alone)."""
        self.marker.unlink(missing_ok=True)

    @contextmanager
    def timed(self) -> Iterator[RunningStage]:
        """Run the stage: times the block and marks the stage done when it returns.

        Entering un-marks a done stage (it is being redone); if the block raises, the stage
        stays not done."""
        self.reset()
        timing = RunningStage(stage=self)
        log.info("stage %s", self.name)
        started = time.perf_counter()
        yield timing
        timing.seconds = time.perf_counter() - started
        timing.record = self.mark_done(timing.summary, seconds=timing.seconds)
        log.info("stage %s done in %.1f s", self.name, timing.seconds)


@dataclass(frozen=True)
class RunDir:
    """A run folder; its stages mark completion with ``<stage>.done`` files for resume."""

    path: Path

    @staticmethod
    def path_for(config: LoopToolConfig, out: str | Path | None = None) -> Path:
        """``out`` when given, else ``<root>/<name>-<time>``."""
        if out is not None:
            return Path(out)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return Path(config.run.root) / f"{config.run.name}-{stamp}"

    @classmethod
    def create(cls, config: LoopToolConfig, out: str | Path | None = None) -> RunDir:
        """Use ``out`` when given (resuming if it exists), else ``<root>/<name>-<time>``."""
        path = cls.path_for(config, out)
        if path.exists() and not path.is_dir():
            raise DataFileError(f"--out {path} is a file, not a run folder")
        path.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path / "config.yaml", dump_config(config))
        return cls(path)

    @property
    def log_file(self) -> Path:
        return self.path / "log.jsonl"

    def file(self, name: str) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def stage(self, name: str) -> Stage:
        """The stage ``name`` (nested with ``/``, e.g. ``iter_1/probe``)."""
        return Stage(self.path, name)

    def is_done(self, stage: str) -> bool:
        return self.stage(stage).done

    def mark_done(self, stage: str, summary: dict[str, Any] | None = None, *, seconds: float | None = None) -> StageRecord:
        return self.stage(stage).mark_done(summary, seconds=seconds)
