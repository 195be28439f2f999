"""``train.trl``: extra ``GRPOConfig`` fields, checked against the installed TRL.

LoopTool builds most of TRL's ``GRPOConfig`` from its own ``train`` keys (batching in prompts,
clip range, lengths, hardware). Any other ``GRPOConfig`` field can be passed through
``train.trl`` without a code change; a name the installed TRL does not know gets the closest
names, and a field LoopTool sets itself is refused with the ``train`` key to use instead (two
places for one setting would silently disagree).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cache
from typing import Any

from looptool.errors import did_you_mean

OWNED_FIELDS: dict[str, str] = {
    "output_dir": "--out",
    "use_cpu": "train.device",
    "bf16": "train.bf16",
    "fp16": "train.bf16",
    "model_init_kwargs": "train.bf16",
    "per_device_train_batch_size": "train.micro_batch_size",
    "gradient_accumulation_steps": "train.prompts_per_step / train.micro_batch_size",
    "steps_per_generation": "train.updates_per_generation",
    "generation_batch_size": "train.prompts_per_step x train.updates_per_generation",
    "num_iterations": "train.num_iterations",
    "num_generations": "train.num_generations",
    "max_tool_calling_iterations": "train.max_tool_calling_iterations",
    "max_completion_length": "train.max_completion_tokens",
    "temperature": "train.temperature",
    "top_p": "train.top_p",
    "learning_rate": "train.learning_rate",
    "lr_scheduler_type": "train.lr_scheduler_type",
    "num_train_epochs": "train.epochs",
    "max_steps": "train.max_steps",
    "epsilon": "train.epsilon",
    "epsilon_high": "train.epsilon_high",
    "beta": "train.beta",
    "loss_type": "train.loss_type",
    "scale_rewards": "train.scale_rewards",
    "warmup_steps": "train.warmup_ratio",
    "warmup_ratio": "train.warmup_ratio",
    "weight_decay": "train.weight_decay",
    "max_grad_norm": "train.max_grad_norm",
    "activation_checkpointing": "train.gradient_checkpointing",
    "gradient_checkpointing": "train.gradient_checkpointing",
    "reward_weights": "train.reward_weights",
    "seed": "train.seed",
    "logging_steps": "train.logging_steps",
    "save_strategy": "train.save_steps",
    "save_steps": "train.save_steps",
    "save_total_limit": "train.save_total_limit",
    "report_to": "train.report_to",
    "disable_tqdm": "(the rich progress bar)",
    "use_vllm": "train.use_vllm",
    "vllm_mode": "train.vllm_mode",
    "vllm_gpu_memory_utilization": "train.vllm_gpu_memory_utilization",
    "vllm_max_model_length": "train.max_prompt_tokens + train.max_completion_tokens",
    "dataloader_num_workers": "(fixed at 0)",
}
"""``GRPOConfig`` fields LoopTool sets, and the ``train`` key that sets each."""


@cache
def grpo_config_fields() -> frozenset[str]:
    """Field names of the installed TRL's ``GRPOConfig`` dataclass."""
    from trl import GRPOConfig

    return frozenset(field.name for field in dataclasses.fields(GRPOConfig) if field.init)


def check_trl_fields(extra: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming every unknown or LoopTool-owned key of ``train.trl``."""
    known = grpo_config_fields()
    problems: list[str] = []
    for name in extra:
        if name in OWNED_FIELDS:
            problems.append(f"{name!r} is set by LoopTool from {OWNED_FIELDS[name]}; set that instead")
        elif name not in known:
            problems.append(f"{name!r} is not a GRPOConfig field of the installed TRL{did_you_mean(name, known)}")
    if problems:
        raise ValueError("; ".join(problems))
