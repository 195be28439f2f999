"""States of the validation graph (TypedDicts; reducers on the types).

The input is either a ``dialogue`` (with what the simulation knows about it) or one
``sample``; the output is the same for both.
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal, NotRequired, TypedDict

from looptool.agents.step_judge import StepJudgement
from looptool.graphs.validation.rules import RuleViolation
from looptool.schema import Dialogue, Sample

Status = Literal["accepted", "rejected"]
Stage = Literal["rules", "judge"]

__all__ = ["Stage", "Status", "StepJudgement", "ValidationInputState", "ValidationOutputState",
           "ValidationState"]


class ValidationInputState(TypedDict):
    """What to validate: a dialogue (every assistant step) or a sample (its label step)."""

    dialogue: NotRequired[Dialogue]
    sample: NotRequired[Sample]
    irrelevant: NotRequired[bool]  # no offered tool fits the task: any call is a violation
    stop_reason: NotRequired[str | None]  # dialogues: why the simulation stopped
    parse_errors: NotRequired[list[str]]  # dialogues: unparseable assistant output


class ValidationOutputState(TypedDict):
    """The verdict: status, the stage that decided it, and the reasons."""

    status: Status
    stage: Stage
    reasons: list[str]
    violations: list[RuleViolation]
    judgements: Annotated[list[StepJudgement], operator.add]


class ValidationState(ValidationInputState, ValidationOutputState):
    """The full working state."""
