"""States of the EDDE expansion graph (TypedDicts; reducers on the types) and its result."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from looptool.agents.expander import ErrorSeed, GeneratedSample
from looptool.graphs.expansion.checks import KeptCandidate, RejectedSample
from looptool.schema import Sample


class ExpansionResult(BaseModel):
    """EDDE's result for one error seed: what was asked, produced, accepted and rejected."""

    model_config = ConfigDict(extra="forbid")

    seed_id: str
    focus: str
    asked: int = Field(description="samples asked of the generator (k)")
    produced: int = Field(default=0, description="candidates the generator returned")
    accepted: list[Sample] = Field(default_factory=list)
    rejected: list[RejectedSample] = Field(default_factory=list)
    generator_errors: list[str] = Field(default_factory=list, description="failed generator attempts, with reasons")
    prompt_version: str = ""

    @property
    def failed(self) -> bool:
        """The generator never produced a usable reply."""
        return self.produced == 0 and bool(self.generator_errors)


class ExpansionInputState(TypedDict):
    """One error seed, how many samples to ask for, and the scenario focus."""

    item_id: str  # the trace id
    seed: ErrorSeed
    k: int
    focus: str


class ExpansionOutputState(TypedDict):
    """The result."""

    result: ExpansionResult


class ExpansionState(ExpansionInputState, ExpansionOutputState):
    """The full working state."""

    candidates: list[GeneratedSample]  # at most k, for the checks
    produced: int  # candidates the generator returned (extras beyond k included)
    kept: list[KeptCandidate]
    accepted: list[Sample]
    rejected: Annotated[list[RejectedSample], operator.add]
    generator_errors: Annotated[list[str], operator.add]
