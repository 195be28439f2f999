"""GRPO on episodes through TRL's ``environment_factory``: the tiny random policy trains two
steps, tool results stay out of the loss, a kill and a resume keep the step count.

The tiny model cannot write tool calls, so its sampled turns are replaced by scripted ones
(by turn: mkdir, then copy + write, then a text answer); everything else — TRL's tool loop,
our environments, rewards, log-probs, the optimizer step, checkpoints — is real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from looptool.jsonl import write_jsonl
from looptool.training.settings import TrainSettings
from looptool.training.trainer import TrainingInterrupted, TrainJob, run_training
from tests.training.test_episodes import COPY, MKDIR, WRITE, backup_episode, hermes
from tests.training.test_train import CtrlCDuringFirstStep

SCRIPT = [hermes(MKDIR), hermes(COPY, WRITE), "Backed up."]
SETTINGS: dict[str, Any] = {
    "sample_kind": "episode",
    "rewards": ["episode_end_state", "episode_shaped"],
    "prompts_per_step": 2,
    "num_generations": 2,
    "max_completion_tokens": 256,
    "max_prompt_tokens": 4096,
    "max_tool_calling_iterations": 3,
    "learning_rate": 1e-3,
    "holdout_fraction": 0.2,
    "holdout_max": 1,
    "save_steps": 1,
    "max_steps": 2,
    "heldout_backend": "transformers",
}



@pytest.fixture
def scripted_turns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Replace sampling with the script; record the tool masks TRL builds."""
    from trl import GRPOTrainer

    seen: dict[str, list[Any]] = {"masks": [], "ids": []}
    original = GRPOTrainer._generate_and_score_completions

    def generate(self: Any, prompt_ids: list[list[int]], images: Any, multimodal_fields: Any, num_generations: int,
                 has_tool_images: bool = False) -> tuple[list[list[int]], None]:
        out = []
        for ids in prompt_ids:
            turn = self.processing_class.decode(ids).count("<tool_response>")
            turn = 0 if turn == 0 else 1 if turn == 1 else 2
            text = SCRIPT[turn]
            tokens = self.processing_class(text, add_special_tokens=False)["input_ids"]
            out.append(tokens + [self.processing_class.eos_token_id])  # prompts arrive repeated per rollout
        return out, None

    def score(self: Any, inputs: Any) -> Any:
        output = original(self, inputs)
        seen["masks"].append(output.get("tool_mask"))
        seen["ids"].append(output["completion_ids"])
        return output

    monkeypatch.setattr(GRPOTrainer, "_generate_single_turn", generate)
    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions", score)
    return seen


def test_two_episode_steps_mask_tool_results_and_resume(
    tiny_model_dir: Path, tmp_path: Path, scripted_turns: dict[str, list[Any]]
) -> None:
    data = tmp_path / "episodes.jsonl"
    write_jsonl(data, [backup_episode(f"e{index}") for index in range(5)])
    out = tmp_path / "run"
    settings = TrainSettings(**SETTINGS)
    with pytest.raises(TrainingInterrupted, match="stopped at step 1"):
        run_training(TrainJob(data=data, out=out, settings=settings, model=str(tiny_model_dir),
                              callbacks=[CtrlCDuringFirstStep()]))
    assert (out / "checkpoints" / "checkpoint-1" / "trainer_state.json").is_file()

    report = run_training(TrainJob(data=data, out=out, settings=settings, model=str(tiny_model_dir)))
    assert report.resumed_from is not None and report.resumed_from.endswith("checkpoint-1")
    assert report.steps == 2
    state = json.loads((out / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    assert report.data.episodes == 5 and report.data.train == 4 and report.data.heldout == 1
    # every scripted rollout did the task: end state and the reference order both exact
    for point in report.reward_curve:
        assert point.rewards["episode_end_state"] == 1.0 and point.rewards["episode_shaped"] == 1.0
    # tool results were in the sequences and out of the loss
    mask = scripted_turns["masks"][-1]
    assert mask is not None
    assert int((mask == 0).sum()) > 0 and int((mask == 1).sum()) > 0
    # the random tiny model fails the held-out episode greedily; it was played and scored
    assert report.heldout_after.samples == 1 and report.heldout_after.accuracy == 0.0
    assert (out / "heldout_episodes_after.jsonl").is_file()
