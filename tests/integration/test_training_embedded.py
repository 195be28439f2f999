"""GRPO on the real embedded SmolLM2-135M: one LoRA step on CPU through ``run_training``."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from looptool.jsonl import write_jsonl
from looptool.schema import Message, Role, Sample, ToolCall, ToolSpec
from looptool.training.settings import TrainSettings
from looptool.training.trainer import TrainJob, run_training

pytestmark = pytest.mark.integration

WEATHER = ToolSpec(
    name="get_weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def weather_samples(folder: Path, cities: list[str]) -> Path:
    """A samples file: one get_weather request and call label per city."""
    data = folder / "samples.jsonl"
    write_jsonl(data, [
        Sample(
            id=f"s{index}",
            tools=[WEATHER],
            context=[Message(role=Role.USER, content=f"Weather in {city}?")],
            label_calls=[ToolCall(name="get_weather", arguments={"city": city})],
        )
        for index, city in enumerate(cities)
    ])
    return data


def test_embedded_model_trains_one_lora_step(embedded_model_dir: Path, tmp_path: Path) -> None:
    data = weather_samples(tmp_path, ["Paris", "Lima", "Oslo"])
    settings = TrainSettings(
        mode="lora",
        prompts_per_step=2,
        num_generations=2,
        max_completion_tokens=8,
        learning_rate=1e-4,
        max_steps=1,
        holdout_fraction=0.34,
        eval_batch_size=2,
        save_final_model=False,
    )
    report = run_training(TrainJob(data=data, out=tmp_path / "run", settings=settings, model="embedded"))
    assert report.steps == 1
    assert report.model_path == str(embedded_model_dir)
    assert report.reward_curve and report.reward_curve[0].loss is not None
    assert math.isfinite(report.reward_curve[0].loss)
    assert report.heldout_after.samples == 1
    assert (tmp_path / "run" / "checkpoints" / "checkpoint-1" / "adapter_config.json").is_file()


def test_heldout_after_training_is_decoded_by_a_vllm_server(embedded_model_dir: Path, tmp_path: Path) -> None:
    """``heldout_backend: vllm``: the merged model is served by vLLM CPU and probed."""
    from looptool.config import ServeSettings

    data = weather_samples(tmp_path, ["Paris", "Lima", "Oslo", "Rome"])
    settings = TrainSettings(mode="lora", prompts_per_step=2, num_generations=2, max_completion_tokens=8,
                             max_steps=1, holdout_fraction=0.5, heldout_backend="vllm")
    serve = ServeSettings(device="cpu", enforce_eager=True, max_model_len=2048)
    report = run_training(TrainJob(data=data, out=tmp_path / "run", settings=settings, model="embedded", serve=serve))
    assert report.heldout_backend == "vllm"
    assert report.heldout_after.samples == 2 and report.heldout_after.accuracy is not None
    assert len(report.heldout_after.predictions) == 2
    assert (tmp_path / "run" / "heldout.journal.jsonl").is_file()
    assert "vllm" in (tmp_path / "run" / "heldout-vllm.log").read_text().lower()  # the server's own log
