"""``train_report.json``: what a GRPO run did, how fast, and how well it answers held-out prompts."""

from __future__ import annotations

import math
import re
import resource
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from looptool.jsonl import write_json_atomic
from looptool.training.evaluate import HeldoutResult

REPORT_NAME = "train_report.json"


class CurvePoint(BaseModel):
    """One logged optimizer step."""

    step: int
    reward: float | None = None
    reward_std: float | None = None
    rewards: dict[str, float] = Field(default_factory=dict, description="mean per reward name")
    loss: float | None = None
    kl: float | None = None
    completion_length: float | None = None
    learning_rate: float | None = None
    clip_low: float | None = Field(default=None, description="share of tokens clipped below 1 - epsilon")
    clip_high: float | None = Field(default=None, description="share of tokens clipped above 1 + epsilon_high")
    clip_region: float | None = Field(default=None, description="share of tokens clipped on either side")


class DataCounts(BaseModel):
    samples: int
    train: int
    heldout: int
    call_labels: int
    text_labels: int
    episodes: int = Field(default=0, description="episodes (train.sample_kind episode)")
    truncated_prompts: int = Field(description="prompts that lost their oldest turns")
    over_limit_prompts: int = Field(
        description="prompts still longer than the limit after truncation; dropped, not trained on"
    )
    max_prompt_tokens_seen: int


class TrainReport(BaseModel):
    """The run report written to ``<out>/train_report.json``."""

    model: str
    model_path: str
    mode: str
    device: str
    bf16: bool
    use_vllm: bool
    steps: int
    epochs: float
    resumed_from: str | None = None
    data: DataCounts
    batch: dict[str, Any]
    settings: dict[str, Any]
    reward_curve: list[CurvePoint]
    heldout_before: HeldoutResult | None = None
    heldout_after: HeldoutResult
    heldout_backend: str = Field(default="transformers", description="how held-out prompts were decoded: vllm | transformers")
    wall_time_s: float = Field(description="this invocation, end to end (load, train, evaluate)")
    train_time_s: float = Field(description="the trainer's own time in this invocation")
    seconds_per_step: float | None
    tokens_seen: int = Field(description="prompt + completion tokens processed (whole run)")
    tokens_per_s: float | None = Field(description="tokens processed in this invocation / train_time_s")
    peak_memory_bytes: int
    peak_memory_kind: str = Field(description="'rss' (CPU process peak) or 'cuda' (max allocated)")
    peak_rss_by_phase: dict[str, int] = Field(
        default_factory=dict,
        description="peak RSS in bytes of each phase (load, heldout_before, train, save, heldout_after), "
        "each counted from the process's RSS when the phase began; empty where the kernel cannot reset it",
    )
    final_model: str | None = None
    adapter: str | None = None
    checkpoints: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def write(self, folder: Path) -> Path:
        path = folder / REPORT_NAME
        write_json_atomic(path, self.model_dump(mode="json"))
        return path


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and math.isfinite(float(value)):
        return float(value)
    return None


def reward_curve(log_history: list[dict[str, Any]], reward_names: list[str]) -> list[CurvePoint]:
    """Training log lines (``trainer.state.log_history``) as curve points, one per step."""
    points: list[CurvePoint] = []
    for entry in log_history:
        if "reward" not in entry and "loss" not in entry:
            continue
        if "train_runtime" in entry:
            continue
        rewards = {
            name: value
            for name in reward_names
            if (value := _number(entry.get(f"rewards/{name}/mean"))) is not None
        }
        points.append(
            CurvePoint(
                step=int(entry.get("step", 0)),
                reward=_number(entry.get("reward")),
                reward_std=_number(entry.get("reward_std")),
                rewards=rewards,
                loss=_number(entry.get("loss")),
                kl=_number(entry.get("kl")),
                completion_length=_number(entry.get("completions/mean_length")),
                learning_rate=_number(entry.get("learning_rate")),
                clip_low=_number(entry.get("clip_ratio/low_mean")),
                clip_high=_number(entry.get("clip_ratio/high_mean")),
                clip_region=_number(entry.get("clip_ratio/region_mean")),
            )
        )
    return points


STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak_rss() -> bool:
    """Start this process's peak-RSS counter (Linux ``VmHWM``) afresh, so the report shows the
    training's own peak even when training runs inside a longer process (the loop). False where
    the kernel does not allow it (then the lifetime peak is reported)."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int | None:
    """This process's peak RSS since :func:`reset_peak_rss` (``VmHWM``; None off Linux)."""
    try:
        match = re.search(r"VmHWM:\s+(\d+)\s+kB", STATUS.read_text())
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


class PhasePeaks:
    """Peak RSS of each phase of a run, phases one after another: ``VmHWM`` is reset when a phase
    begins and read when it ends, so a phase's peak includes what the process already held but
    no earlier spike."""

    def __init__(self) -> None:
        self.bytes: dict[str, int] = {}
        self._current: str | None = None

    def begin(self, name: str) -> None:
        """End the current phase (if any) and start ``name``."""
        self.end()
        if reset_peak_rss():
            self._current = name

    def end(self) -> None:
        """Record the current phase's peak."""
        name, self._current = self._current, None
        peak = peak_rss_bytes() if name is not None else None
        if name is not None and peak is not None:
            self.bytes[name] = max(peak, self.bytes.get(name, 0))

    def overall(self) -> int | None:
        """The largest phase peak (None when no phase was measured)."""
        return max(self.bytes.values()) if self.bytes else None


def peak_memory(phases: PhasePeaks | None = None) -> tuple[int, str]:
    """Peak CUDA memory allocated when CUDA was used, else the largest of the measured phases'
    peak RSS, else this process's ``VmHWM`` since :func:`reset_peak_rss` (the lifetime
    ``ru_maxrss`` where there is none)."""
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.max_memory_allocated() > 0:
            return int(torch.cuda.max_memory_allocated()), "cuda"
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    measured = phases.overall() if phases is not None else None
    if measured is not None:
        return measured, "rss"
    hwm = peak_rss_bytes()
    if hwm is not None:
        return hwm, "rss"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (rss if sys.platform == "darwin" else rss * 1024), "rss"
