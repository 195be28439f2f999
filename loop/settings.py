"""The ``pipeline`` and ``loop`` config sections (and the loop stages' ``jglv`` and ``edde``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from looptool.config import register_section
from looptool.graphs.expansion.settings import EddeSettings
from looptool.graphs.judging.settings import JglvSettings
from looptool.loop.probe import ProbeSettings
from looptool.loop.records import LoopMode


class PipelineSettings(BaseModel):
    """``pipeline:`` section: how much work each stage of the static pipeline does."""

    model_config = ConfigDict(extra="forbid")

    dialogues: int = Field(default=8, ge=1, description="seed dialogues to simulate")
    evaluate: bool = Field(default=True, description="evaluate the base and the trained model")
    base_label: str = "base"
    trained_label: str = "grpo"


register_section("pipeline", PipelineSettings)


class EpisodeLoopSettings(BaseModel):
    """``loop.episodes:``: multi-step episodes in the loop (off unless ``file`` is set).

    Each iteration then trains a second GRPO phase on its episode set E_j (``sample_kind:
    episode``, from the single-step result), probes E_j greedily on the served policy, judges
    the failed episodes, expands the error seeds and composes E_{j+1} (docs/loop.md, episodes).
    """

    model_config = ConfigDict(extra="forbid")

    file: str | None = Field(
        default=None, description="an episodes JSONL file, or `curated` for the shipped curated set; null: off"
    )
    share: float = Field(
        default=0.25, gt=0.0, lt=1.0,
        description="fraction of loop.budget given to episodes each iteration; single-step data gets the rest",
    )
    heldout: int = Field(
        default=8, ge=0,
        description="episodes held out of training (seeded, split by lineage source item), played by every policy",
    )
    max_tool_calling_iterations: int = Field(default=4, ge=1, description="tool rounds per rollout (training and probe)")
    max_completion_tokens: int = Field(
        default=512, ge=16, description="model + tool-result tokens per rollout (training and probe)"
    )
    max_prompt_tokens: int = Field(
        default=3072, ge=256,
        description="episode prompts (tool list + instruction): SmolLM2 tokens of the curated episodes' prompts "
        "are ~1,550-1,730 with one backend and ~2,860-2,920 with file system + calendar; longer ones are "
        "dropped and counted (serve.max_model_len must hold this plus max_completion_tokens)",
    )
    rewards: list[str] = Field(
        default_factory=lambda: ["episode_end_state"], min_length=1,
        description="episode rewards of the episode GRPO phase (episode_end_state, episode_shaped)",
    )
    train_steps: int | None = Field(
        default=None, ge=1, description="max_steps of the episode GRPO phase (default: train.max_steps)"
    )
    concurrency: int = Field(default=4, ge=1, description="episodes played at once (probe, held-out)")
    simulated_user: bool = Field(
        default=False,
        description="offer the policy an ask_user tool answered by roles.user_sim (training, probe, held-out; "
        "train.simulated_user). The episode training phase needs a user server then: roles.user_sim.base_urls, "
        "or loop.stop_server_for_training: false (the loop's own server plays the user)",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.file)


class LoopSettings(BaseModel):
    """``loop:`` section: the closed loop's iterations, modes, data budget and stages.

    The judge (``jglv``), expansion (``edde``) and seed (``seed``) stages have sections of
    their own; evaluation slices come from the ``eval`` section.
    """

    model_config = ConfigDict(extra="forbid")

    iterations: int = Field(default=2, ge=1, description="train -> probe -> judge -> expand -> compose rounds")
    modes: list[LoopMode] = Field(
        default_factory=lambda: [LoopMode.LOOP],
        min_length=1,
        description="run side by side from one seed set: loop, static (the paper's baseline), "
        "no_hppl, no_jglv, no_edde (ablations)",
    )
    budget: int = Field(default=64, ge=1, description="samples per iteration's training set (|D_j|)")
    fresh: Literal["fill", "halve"] = Field(
        default="fill",
        description="fill: fresh seed fills D_{j+1} up to the budget; halve: the fresh share halves "
        "each round (the paper), so D_{j+1} may be smaller",
    )
    probe: ProbeSettings = Field(default_factory=ProbeSettings)
    judge_concurrency: int = Field(default=8, ge=1)
    expand_concurrency: int = Field(default=4, ge=1)
    evaluate_heldout: bool = Field(default=True, description="held-out ToolMatch of every policy")
    evaluate_benchmarks: bool = Field(default=True, description="the eval section's slices for every policy")
    allow_contamination: bool = Field(
        default=False, description="start even when training tools overlap the evaluated benchmarks' tools"
    )
    serve_policy: Literal["merged", "adapter"] = Field(
        default="merged",
        description="merged: serve each iteration's merged weights; adapter: hot-load its LoRA adapter onto "
        "the base it was trained on (vLLM restarts only when that base changes)",
    )
    heldout_limit: int | None = Field(
        default=None, ge=1, description="evaluate only the first N held-out samples (null: all)"
    )
    stop_server_for_training: bool = Field(
        default=True,
        description="stop the policy's vLLM server while training (one machine: frees CPU and memory)",
    )
    train_launcher: list[str] = Field(
        default_factory=list,
        description="run each iteration's training as `<launcher> -m looptool.cli train ...` in a subprocess, "
        "e.g. [accelerate, launch, --config_file, configs/accelerate_zero3.yaml] for multi-GPU; "
        "empty: in this process",
    )
    progress: bool = True
    episodes: EpisodeLoopSettings = Field(default_factory=EpisodeLoopSettings)

    @property
    def episode_budget(self) -> int:
        """Episodes per iteration (|E_j|): ``episodes.share`` of the budget, 0 when episodes are off."""
        if not self.episodes.enabled:
            return 0
        return max(1, round(self.budget * self.episodes.share))

    @property
    def step_budget(self) -> int:
        """Single-step samples per iteration (|D_j|): the rest of the budget."""
        return self.budget - self.episode_budget

    @model_validator(mode="after")
    def _budget_leaves_single_step_data(self) -> LoopSettings:
        if self.episodes.enabled and self.step_budget < 1:
            raise ValueError(
                f"loop.budget={self.budget} with loop.episodes.share={self.episodes.share} leaves no single-step "
                "sample; raise the budget or lower the share"
            )
        return self

    @model_validator(mode="after")
    def _adapter_needs_no_prompt_logprobs(self) -> LoopSettings:
        if self.serve_policy == "adapter" and self.probe.perplexity_of == "label":
            raise ValueError(
                "loop.serve_policy=adapter with loop.probe.perplexity_of=label: vLLM 0.32 crashes computing "
                "prompt_logprobs for a LoRA request (measured on CPU); use perplexity_of=greedy or "
                "serve_policy=merged"
            )
        return self


register_section("loop", LoopSettings)
register_section("jglv", JglvSettings)
register_section("edde", EddeSettings)
