"""The ``train`` section of a LoopTool recipe: every knob of a GRPO run, with help text.

Batching is expressed in prompts, not completions: one optimizer step sees
``prompts_per_step`` prompts x ``num_generations`` rollouts each. TRL's own knobs
(``per_device_train_batch_size`` counts completions and the generation batch must be a
multiple of ``num_generations``) are derived from these, so the divisibility rule always
holds (see :mod:`training.batching`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from looptool.config import register_section

CPU_MICRO_BATCH = 1
"""Completions per forward/backward pass on CPU when ``micro_batch_size`` is null."""


class LoraSettings(BaseModel):
    """LoRA adapter shape (used when ``train.mode`` is ``lora``)."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=8, ge=1, description="adapter rank")
    alpha: int = Field(default=16, ge=1, description="scaling numerator (scale = alpha / r)")
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    target_modules: list[str] | str = Field(
        default="all-linear", description="module names, or 'all-linear'"
    )


class TrainSettings(BaseModel):
    """GRPO training on samples (tools + context -> label) with TRL's GRPOTrainer."""

    model_config = ConfigDict(extra="forbid")

    init: str | None = Field(
        default=None,
        description="starting model: a Hugging Face causal-LM folder or 'embedded'; "
        "default: the recipe's model.path",
    )
    mode: Literal["full", "lora"] = Field(default="full", description="full fine-tuning or LoRA (peft)")
    lora: LoraSettings = Field(default_factory=LoraSettings)

    sample_kind: Literal["step", "episode"] = Field(
        default="step",
        description="step: single-step samples (context -> next call, the paper's setting); episode: "
        "multi-step episodes played against executable backends through TRL's environment_factory, "
        "rewarded by the backends' end state (docs/training.md, episodes)",
    )
    max_tool_calling_iterations: int = Field(
        default=4,
        ge=0,
        description="episode mode: tool rounds per rollout (the model's calls run, results come back, it "
        "goes on); the calls of a turn past the bound are not run",
    )
    simulated_user: bool = Field(
        default=False,
        description="episode mode: offer the policy an ask_user tool answered by the dialogue simulator's user "
        "role (roles.user_sim, which needs a running server: set roles.user_sim.base_urls) from the episode's "
        "user brief; off by default (docs/episodes.md, simulated user)",
    )

    # rollouts and batching
    num_generations: int = Field(default=4, ge=2, description="rollouts per prompt (the group size)")
    prompts_per_step: int = Field(default=4, ge=1, description="distinct prompts per optimizer step")
    micro_batch_size: int | None = Field(
        default=None,
        ge=1,
        description="completions per forward/backward pass; null: 1 on CPU (bounds peak memory, "
        "docs/training.md, memory), the whole step on CUDA. Must divide prompts_per_step x "
        "num_generations (else the largest divisor below it is used)",
    )

    updates_per_generation: int = Field(
        default=1,
        ge=1,
        description="optimizer steps made on each rollout batch (TRL steps_per_generation / "
        "accumulation): one rollout batch of prompts_per_step x updates_per_generation prompts is "
        "split into this many mini-batch updates; above 1 the policy moves between updates, so "
        "importance ratios differ from 1 and the clip range acts (official scripts: 256 prompts, 8 "
        "updates of 32)",
    )
    num_iterations: int = Field(
        default=1,
        ge=1,
        description="passes over each rollout batch (TRL num_iterations, the GRPO paper's mu); "
        "above 1 the clip range acts too",
    )

    # sampling
    temperature: float = Field(default=1.0, gt=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)

    # optimisation
    learning_rate: float = Field(default=1e-6, gt=0.0, description="the paper uses 1e-6")
    epochs: float = Field(default=2.0, gt=0.0, description="passes over the training prompts")
    max_steps: int = Field(default=-1, description="stop after this many steps (-1: epochs decide)")
    epsilon: float = Field(default=0.2, gt=0.0, description="lower clip range (paper: 0.2)")
    epsilon_high: float | None = Field(
        default=0.28, description="upper clip range (paper: 0.28); null = same as epsilon"
    )
    beta: float = Field(default=0.0, ge=0.0, description="KL coefficient; 0 turns the KL term off")
    loss_type: str = Field(default="dapo", description="TRL loss_type: dapo | grpo | dr_grpo | bnpo ...")
    scale_rewards: Literal["group", "batch", "none"] = "group"
    lr_scheduler_type: str = Field(
        default="constant",
        description="transformers scheduler: constant (the official scripts), linear, cosine, "
        "constant_with_warmup, ...",
    )
    warmup_ratio: float = Field(default=0.0, ge=0.0, lt=1.0)
    weight_decay: float = Field(default=0.0, ge=0.0, description="official scripts: 0.01")
    max_grad_norm: float = Field(default=1.0, gt=0.0)
    gradient_checkpointing: bool | None = Field(
        default=None,
        description="recompute activations in backward instead of keeping them; null: on for CPU "
        "training, off on CUDA (with 2 completions per pass and cpu_trim_memory the smoke step's peak "
        "RSS is 3.5 instead of 11.2 GiB at 1.28x the seconds; docs/training.md, memory)",
    )
    seed: int | None = Field(default=None, description="default: the recipe's run.seed")

    # lengths
    max_prompt_tokens: int = Field(
        default=1024,
        ge=16,
        description="prompts longer than this lose their oldest turns (tools and the last user "
        "turn always stay); counted in the report",
    )
    max_completion_tokens: int = Field(default=256, ge=1)

    # prompt
    preamble: str = Field(
        default="", description="text put before the tool list in the system prompt (e.g. a 1-shot example)"
    )

    invalid_labels: Literal["refuse", "drop"] = Field(
        default="refuse",
        description="samples whose label arguments break the tool's JSON Schema: refuse the file "
        "(listing them) or drop them with a warning each",
    )

    # rewards
    rewards: list[str] = Field(
        default_factory=lambda: ["tool_match"],
        description="reward names (default: tool_match; with sample_kind episode: episode_end_state, or "
        "episode_shaped for per-step credit)",
    )
    reward_weights: list[float] | None = None

    # held-out evaluation
    holdout_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    holdout_max: int = Field(default=32, ge=0, description="at most this many held-out samples")
    evaluate_before: bool = Field(
        default=False, description="also measure held-out ToolMatch before training"
    )
    eval_batch_size: int = Field(default=8, ge=1, description="transformers held-out decoding batch")
    heldout_backend: Literal["auto", "vllm", "transformers"] = Field(
        default="auto",
        description="held-out decoding after training: vllm serves the trained model (the serve "
        "section) and probes it as the loop does; transformers runs generate in-process (slow, "
        "for tests); auto = vllm when its environment is installed",
    )

    # checkpoints and logging
    save_steps: int = Field(default=20, ge=1, description="checkpoint every N steps")
    save_total_limit: int | None = Field(default=2, ge=1)
    logging_steps: int = Field(default=1, ge=1)
    save_final_model: bool = Field(
        default=True, description="write the trained model (merged for LoRA) into <out>/model"
    )

    # hardware
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(
        default=None,
        ge=1,
        description="CPU threads for torch (default: torch's choice). On a busy shared machine "
        "1 thread can beat 2: measured 50 vs 36 GFLOPS on a loaded 2-core box",
    )
    bf16: bool | None = Field(default=None, description="default: on for CUDA with bf16, off on CPU")
    cpu_mmap_threshold_kib: int | None = Field(
        default=None,
        ge=0,
        description="CPU only (glibc): allocations above this size are mmapped and go back to the OS "
        "when freed (mallopt M_MMAP_THRESHOLD); without it glibc raises the threshold as tensors are "
        "freed and keeps their memory, so peak RSS grows step by step (64 measured). null: glibc's default",
    )
    cpu_trim_memory: bool = Field(
        default=True,
        description="CPU only (glibc): hand freed heap memory back to the OS (malloc_trim) after every "
        "forward/backward pass and optimizer step, so peak RSS stays near what torch holds; cheaper "
        "than cpu_mmap_threshold_kib, which keeps glibc's fast reuse from working inside a pass",
    )
    use_vllm: bool | None = Field(
        default=None, description="TRL's vLLM generation; default: on when CUDA and vllm are present"
    )
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_gpu_memory_utilization: float = Field(default=0.3, gt=0.0, le=1.0)
    report_to: list[str] = Field(default_factory=list, description="TRL report_to (e.g. ['wandb'])")
    trl: dict[str, Any] = Field(
        default_factory=dict,
        description="extra GRPOConfig fields passed to TRL as they are (e.g. mask_truncated_completions, "
        "chat_template_kwargs, vllm_enable_sleep_mode, vllm_tensor_parallel_size); checked against the "
        "installed TRL's GRPOConfig; fields LoopTool sets from its own keys are refused",
    )

    @field_validator("rewards")
    @classmethod
    def _some_reward(cls, rewards: list[str]) -> list[str]:
        if not rewards:
            raise ValueError("at least one reward name is needed")
        return rewards

    @field_validator("lr_scheduler_type")
    @classmethod
    def _known_scheduler(cls, name: str) -> str:
        from transformers import SchedulerType

        from looptool.errors import did_you_mean

        known = [item.value for item in SchedulerType]
        if name not in known:
            raise ValueError(f"unknown lr_scheduler_type {name!r}{did_you_mean(name, known)}; known: {', '.join(known)}")
        return name

    @field_validator("trl")
    @classmethod
    def _known_trl_fields(cls, extra: dict[str, Any]) -> dict[str, Any]:
        if extra:
            from looptool.training.trl_fields import check_trl_fields

            check_trl_fields(extra)
        return extra

    @model_validator(mode="after")
    def _check(self) -> TrainSettings:
        if self.reward_weights is not None and len(self.reward_weights) != len(self.rewards):
            raise ValueError(
                f"reward_weights has {len(self.reward_weights)} entries for {len(self.rewards)} rewards"
            )
        self._check_reward_kind()
        if self.epsilon_high is not None and self.epsilon_high < self.epsilon:
            raise ValueError(f"epsilon_high ({self.epsilon_high}) is below epsilon ({self.epsilon})")
        return self

    def checkpointing_for(self, device: str) -> bool:
        """``gradient_checkpointing`` as it applies on ``device`` (null: on for CPU)."""
        return device == "cpu" if self.gradient_checkpointing is None else self.gradient_checkpointing

    def micro_batch_for(self, device: str) -> int | None:
        """``micro_batch_size`` as it applies on ``device`` (null: 1 on CPU, the whole step on CUDA)."""
        if self.micro_batch_size is not None:
            return self.micro_batch_size
        return CPU_MICRO_BATCH if device == "cpu" else None

    def _check_reward_kind(self) -> None:
        """Episode rewards score an environment, step rewards a single completion: each kind of
        run takes its own (an episode run left at the default reward gets episode_end_state)."""
        from looptool.training.episodes import EPISODE_REWARDS

        episode_mode = self.sample_kind == "episode"
        if self.simulated_user and not episode_mode:
            raise ValueError("train.simulated_user plays a user inside episode rollouts: it needs "
                             "train.sample_kind: episode")
        if episode_mode and "rewards" not in self.model_fields_set:
            self.rewards = [EPISODE_REWARDS[0]]
            return
        wrong = [name for name in self.rewards if (name in EPISODE_REWARDS) != episode_mode]
        if wrong:
            kind = "single-step" if episode_mode else "episode"
            raise ValueError(
                f"reward(s) {wrong} are {kind} rewards but train.sample_kind is {self.sample_kind!r}; "
                f"episode rewards: {', '.join(EPISODE_REWARDS)}")


register_section("train", TrainSettings)
