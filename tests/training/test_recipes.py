"""The shipped training recipes load, validate and give TRL a valid batch layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from looptool.config import load_config
from looptool.training.batching import plan_batches
from looptool.training.settings import TrainSettings

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize(("name", "processes", "device"),
                         [("train_cpu.yaml", 1, "cpu"), ("smoke.yaml", 1, "cpu"), ("grpo_qwen3_8b.yaml", 8, "cuda")])
def test_recipe_is_valid(name: str, processes: int, device: str) -> None:
    path = CONFIGS / name
    assert path.read_text().startswith("# Run with")
    settings = load_config(path).section("train", TrainSettings)
    plan = plan_batches(
        prompts_per_step=settings.prompts_per_step,
        num_generations=settings.num_generations,
        micro_batch_size=settings.micro_batch_for(device),
        processes=processes,
    )
    assert not plan.notes  # the recipe needs no adjustment
    assert plan.per_device_train_batch_size * processes * plan.gradient_accumulation_steps % settings.num_generations == 0


def test_paper_recipe_values() -> None:
    settings = load_config(CONFIGS / "grpo_qwen3_8b.yaml").section("train", TrainSettings)
    assert (settings.num_generations, settings.learning_rate, settings.epochs) == (16, 1e-6, 2)
    assert (settings.epsilon, settings.epsilon_high, settings.beta) == (0.2, 0.28, 0.0)
    # the official scripts' layout: 256 prompts per rollout batch, 8 updates of 32, constant lr, wd 0.01
    assert (settings.prompts_per_step, settings.updates_per_generation) == (32, 8)
    assert (settings.lr_scheduler_type, settings.weight_decay) == ("constant", 0.01)
    assert (settings.max_prompt_tokens, settings.max_completion_tokens) == (4096, 1024)
    loop_train = load_config(CONFIGS / "paper_qwen3_8b.yaml").section("train", TrainSettings)
    assert loop_train.model_dump(exclude={"holdout_fraction", "holdout_max", "heldout_backend"}) == settings.model_dump(
        exclude={"holdout_fraction", "holdout_max", "heldout_backend"})
    accelerate = yaml.safe_load((CONFIGS / "accelerate_zero3.yaml").read_text())
    assert accelerate["deepspeed_config"]["zero_stage"] == 3


@pytest.mark.parametrize("path", sorted(p for p in CONFIGS.glob("*.yaml") if p.name != "accelerate_zero3.yaml"),
                         ids=lambda p: p.name)
def test_every_shipped_recipe_loads_and_says_how_to_run_it(path: Path) -> None:
    assert path.read_text().startswith("# Run with")
    load_config(path)


def test_loop_recipes() -> None:
    from looptool.loop.settings import LoopSettings

    smoke = load_config(CONFIGS / "smoke.yaml")
    loop = smoke.section("loop", LoopSettings)
    assert loop.iterations == 2 and smoke.model.path == "embedded"
    paper = load_config(CONFIGS / "paper_qwen3_8b.yaml")
    assert paper.section("loop", LoopSettings).iterations == 4
    assert paper.section("loop", LoopSettings).budget == 18304
    assert "UNVERIFIED" in (CONFIGS / "paper_qwen3_8b.yaml").read_text()
