"""A tiny random Qwen3 trains with GRPO on CPU: checkpoints, reload, resume, LoRA, CLI."""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from transformers import TrainerCallback

import looptool.cli
from looptool.training.report import REPORT_NAME, TrainReport
from looptool.training.settings import TrainSettings
from looptool.training.trainer import TrainingInterrupted, TrainJob, run_training

FAST: dict[str, Any] = {
    "prompts_per_step": 2,
    "num_generations": 2,
    "max_completion_tokens": 8,
    "learning_rate": 1e-3,
    "holdout_fraction": 0.25,
    "holdout_max": 2,
    "save_steps": 1,
    "max_steps": 2,
    "heldout_backend": "transformers",
}


class CtrlCDuringFirstStep(TrainerCallback):
    """Sends this process SIGINT while the first step runs, as a user pressing Ctrl-C would."""

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == 0:
            os.kill(os.getpid(), signal.SIGINT)


def reloads(folder: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder)
    assert sum(parameter.numel() for parameter in model.parameters()) > 0


def test_two_steps_interrupt_resume_and_report(tiny_model_dir: Path, samples_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    settings = TrainSettings(**FAST)
    interrupted = TrainJob(
        data=samples_file, out=out, settings=settings, model=str(tiny_model_dir), callbacks=[CtrlCDuringFirstStep()]
    )
    with pytest.raises(TrainingInterrupted, match="stopped at step 1"):
        run_training(interrupted)
    first = out / "checkpoints" / "checkpoint-1"
    assert (first / "trainer_state.json").is_file()
    assert not (out / "train.done").exists() and not (out / REPORT_NAME).exists()
    reloads(first)

    # the same command again resumes from checkpoint-1 and finishes step 2
    report = run_training(TrainJob(data=samples_file, out=out, settings=settings, model=str(tiny_model_dir)))
    assert report.resumed_from is not None and report.resumed_from.endswith("checkpoint-1")
    assert report.steps == 2
    assert [point.step for point in report.reward_curve] == [1, 2]
    assert all(point.loss is not None and math.isfinite(point.loss) for point in report.reward_curve)
    assert all("tool_match" in point.rewards for point in report.reward_curve)
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    state = json.loads((out / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    assert report.data.heldout == 2 and report.data.train == 6
    assert report.heldout_after.samples == 2 and report.heldout_after.accuracy is not None
    assert report.peak_memory_kind == "rss" and report.peak_memory_bytes > 50 * 2**20
    assert report.tokens_seen > 0 and report.tokens_per_s and report.tokens_per_s > 0
    assert report.batch["generation_batch_size"] == 4
    assert not report.bf16 and report.device == "cpu"
    assert report.final_model is not None
    reloads(Path(report.final_model))
    saved = TrainReport.model_validate_json((out / REPORT_NAME).read_text())
    assert saved.steps == 2

    # a finished run is not trained again
    again = run_training(TrainJob(data=samples_file, out=out, settings=settings, model=str(tiny_model_dir)))
    assert again.wall_time_s == report.wall_time_s


def test_lora_with_kl_through_the_cli(
    tiny_model_dir: Path, samples_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(looptool.cli, "COMMAND_MODULES", ("looptool.training.cli",))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "train:\n  mode: lora\n  beta: 0.04\n  lora:\n    r: 4\n  rewards: [tool_match, tool_match_shaped]\n"
    )
    out = tmp_path / "lora-run"
    overrides = [f"train.{key}={value}" for key, value in {**FAST, "max_steps": 1}.items()]
    argv = ["train", "--data", str(samples_file), "--init", str(tiny_model_dir), "--config", str(recipe), "--out", str(out)]
    for override in overrides:
        argv += ["--set", override]
    assert looptool.cli.main(argv) == 0
    report = TrainReport.model_validate_json((out / REPORT_NAME).read_text())
    assert report.mode == "lora" and report.steps == 1
    assert report.settings["beta"] == 0.04 and report.settings["lora"]["r"] == 4
    assert set(report.reward_curve[0].rewards) == {"tool_match", "tool_match_shaped"}
    assert report.reward_curve[0].kl is not None
    assert report.adapter is not None and (Path(report.adapter) / "adapter_config.json").is_file()
    assert report.final_model is not None
    reloads(Path(report.final_model))  # merged
    assert (out / "config.yaml").is_file() and "mode: lora" in (out / "config.yaml").read_text()
