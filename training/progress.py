"""A rich progress bar for TRL/transformers training, as a ``TrainerCallback``."""

from __future__ import annotations

import logging
import math
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from looptool.logs import console

log = logging.getLogger(__name__)


class RichProgressCallback(TrainerCallback):
    """One bar over optimizer steps (starting at the resumed step), showing the latest
    mean reward and loss; every log line also goes to the run log as structured data."""

    def __init__(self, reward_names: list[str]) -> None:
        self.reward_names = reward_names
        self._progress: Progress | None = None
        self._task: Any = None
        self._status = ""

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero:
            return
        self._progress = Progress(
            TextColumn("[bold]GRPO"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
        )
        self._progress.start()
        self._task = self._progress.add_task("train", total=state.max_steps, status="")
        if state.global_step:
            self._progress.update(self._task, completed=state.global_step)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=state.global_step, status=self._status)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs or not state.is_world_process_zero:
            return
        parts = []
        if "reward" in logs:
            parts.append(f"reward {logs['reward']:.3f}")
        for name in self.reward_names:
            key = f"rewards/{name}/mean"
            if key in logs and len(self.reward_names) > 1:
                parts.append(f"{name} {logs[key]:.3f}")
        if "loss" in logs and isinstance(logs["loss"], float) and math.isfinite(logs["loss"]):
            parts.append(f"loss {logs['loss']:.4f}")
        if parts:
            self._status = "  ".join(parts)
            if self._progress is not None:
                self._progress.update(self._task, status=self._status)
        log.debug("step %d", state.global_step, extra={"data": {"step": state.global_step, **logs}})

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
