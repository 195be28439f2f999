"""From prompts-per-step to TRL's batch knobs, with the divisibility rule handled.

TRL counts completions: ``per_device_train_batch_size`` completions go through one
forward/backward pass, ``steps_per_generation`` (= ``gradient_accumulation_steps`` here)
such passes make one optimizer step, and the generation batch
``per_device_train_batch_size x processes x steps_per_generation`` must hold whole prompt
groups, i.e. be a multiple of ``num_generations``. Asking for ``prompts_per_step`` prompts
makes the generation batch ``prompts_per_step x num_generations`` by construction; only the
micro-batch has to divide it, and when it does not the largest divisor below it is used.

With ``updates_per_generation`` = u > 1 one rollout batch of ``prompts_per_step x u`` prompts
is generated at once and consumed by u optimizer steps (TRL ``steps_per_generation`` =
accumulation x u), as the official scripts do (256 prompts, 8 updates of 32): from the second
update on the policy has moved, importance ratios differ from 1 and the clip range acts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchPlan:
    """TRL batch settings for one optimizer step of ``prompts_per_step`` prompt groups."""

    prompts_per_step: int
    num_generations: int
    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    processes: int
    updates_per_generation: int = 1
    notes: tuple[str, ...] = ()

    @property
    def generation_batch_size(self) -> int:
        """Completions generated at once (all processes): every update's prompts x rollouts."""
        return self.prompts_per_step * self.updates_per_generation * self.num_generations

    @property
    def steps_per_generation(self) -> int:
        """TRL's micro-steps per rollout batch."""
        return self.gradient_accumulation_steps * self.updates_per_generation


def plan_batches(
    *,
    prompts_per_step: int,
    num_generations: int,
    micro_batch_size: int | None,
    processes: int = 1,
    train_prompts: int | None = None,
    updates_per_generation: int = 1,
) -> BatchPlan:
    """Choose micro-batch and accumulation so one step = ``prompts_per_step`` whole groups.

    ``train_prompts`` caps ``prompts_per_step`` and then ``updates_per_generation`` (TRL
    drops an incomplete rollout batch, so one larger than the data set would never run).
    """
    notes: list[str] = []
    prompts = prompts_per_step
    if train_prompts is not None and train_prompts < prompts:
        notes.append(
            f"prompts_per_step lowered from {prompts} to {train_prompts}: the training split "
            f"has only {train_prompts} prompts"
        )
        prompts = train_prompts
    updates = updates_per_generation
    if train_prompts is not None and prompts * updates > train_prompts:
        fitting = max(1, train_prompts // prompts)
        notes.append(
            f"updates_per_generation lowered from {updates} to {fitting}: a rollout batch of "
            f"{prompts} x {updates} prompts is larger than the {train_prompts} training prompts"
        )
        updates = fitting
    # each process generates and trains on whole groups of its share of the prompts
    if prompts % processes:
        rounded = max(processes, prompts - prompts % processes)
        notes.append(
            f"prompts_per_step {prompts} is not a multiple of {processes} processes; using {rounded}"
        )
        prompts = rounded
    per_process = prompts * num_generations // processes
    wanted = micro_batch_size or per_process
    micro = min(wanted, per_process)
    while per_process % micro:
        micro -= 1
    if micro != wanted:
        notes.append(
            f"micro_batch_size {wanted} does not divide the {per_process} completions per step "
            f"and process ({prompts} prompts x {num_generations} rollouts / {processes}); using {micro}"
        )
    for note in notes:
        log.warning("%s", note)
    return BatchPlan(
        prompts_per_step=prompts,
        num_generations=num_generations,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=per_process // micro,
        processes=processes,
        updates_per_generation=updates,
        notes=tuple(notes),
    )
