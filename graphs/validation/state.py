"""States of the validation graph (TypedDicts; reducers on the types)."""

from __future__ import annotations

import operator
from typing import Annotated, Literal, TypedDict

from pydantic import BaseModel, ConfigDict

from looptool.graphs.validation.rules import RuleViolation
from looptool.schema import Dialogue

Status = Literal["accepted", "rejected"]


class StepJudgement(BaseModel):
    """The judge's verdict on one assistant step."""

    model_config = ConfigDict(extra="forbid")

    step: int
    consistent: bool
    reason: str


class ValidationInputState(TypedDict):
    """A simulated dialogue and what the simulation knows about it."""

    dialogue: Dialogue
    irrelevant: bool
    stop_reason: str | None
    parse_errors: list[str]


class ValidationOutputState(TypedDict):
    """The verdict: status, the stage that decided it, and the reasons."""

    status: Status
    stage: Literal["rules", "judge"]
    reasons: list[str]
    violations: list[RuleViolation]
    judgements: Annotated[list[StepJudgement], operator.add]


class ValidationState(ValidationInputState, ValidationOutputState):
    """The full working state."""
