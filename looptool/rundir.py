"""Run folders: one per command invocation, holding the resolved config, logs and outputs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from looptool.config import LoopToolConfig, dump_config
from looptool.jsonl import write_text_atomic


@dataclass(frozen=True)
class RunDir:
    """A run folder. Stages mark completion with ``<stage>.done`` files for resume."""

    path: Path

    @classmethod
    def create(cls, config: LoopToolConfig, out: str | Path | None = None) -> RunDir:
        """Use ``out`` when given (resuming if it exists), else ``<root>/<name>-<time>``."""
        if out is not None:
            path = Path(out)
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = Path(config.run.root) / f"{config.run.name}-{stamp}"
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

    def is_done(self, stage: str) -> bool:
        return (self.path / f"{stage}.done").exists()

    def mark_done(self, stage: str, summary: dict[str, object] | None = None) -> None:
        write_text_atomic(self.path / f"{stage}.done", json.dumps(summary or {}, default=str) + "\n")
