"""Prompts-per-step -> TRL batch sizes: the generation batch always holds whole groups."""

from __future__ import annotations

import pytest

from looptool.training.batching import plan_batches


@pytest.mark.parametrize(
    ("prompts", "generations", "micro", "processes", "train", "expected"),
    [
        (4, 4, None, 1, None, (4, 16, 1)),
        (4, 4, 8, 1, None, (4, 8, 2)),
        (3, 4, 5, 1, None, (3, 4, 3)),  # 5 does not divide 12: largest divisor below is 4
        (4, 16, None, 2, None, (4, 32, 1)),
        (8, 4, None, 1, 5, (5, 20, 1)),  # capped by the training split
        (3, 2, None, 2, None, (2, 2, 1)),  # rounded to a multiple of the processes
    ],
)
def test_plan(prompts, generations, micro, processes, train, expected) -> None:
    plan = plan_batches(
        prompts_per_step=prompts,
        num_generations=generations,
        micro_batch_size=micro,
        processes=processes,
        train_prompts=train,
    )
    assert (plan.prompts_per_step, plan.per_device_train_batch_size, plan.gradient_accumulation_steps) == expected
    # TRL's rule: generation batch = micro x processes x accumulation, a multiple of num_generations
    generation_batch = plan.per_device_train_batch_size * processes * plan.gradient_accumulation_steps
    assert generation_batch == plan.generation_batch_size
    assert generation_batch % generations == 0
    assert bool(plan.notes) == (expected[0] != prompts or (micro is not None and expected[1] != micro))
