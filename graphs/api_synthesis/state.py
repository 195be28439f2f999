"""State of the API-synthesis graph: one request (index) in, one accepted or dropped API out."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from looptool.agents.api_generator import ApiRequest, GenerationOutcome
from looptool.graphs.api_synthesis.rules import Violation
from looptool.graphs.api_synthesis.sampling import ConstraintPath
from looptool.graphs.api_synthesis.trees import ContextLeaf
from looptool.schema import ToolSpec


class AttemptRecord(BaseModel):
    """One generation attempt and its verdict."""

    model_config = ConfigDict(extra="forbid")

    attempt: int
    raw_text: str = ""
    candidate: dict[str, Any] | None = None
    violations: list[Violation] = Field(default_factory=list)
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0


class ApiSynthesisInput(TypedDict):
    """What a caller passes: the request's index (sampling is seeded by it)."""

    index: int


class ApiSynthesisOutput(TypedDict, total=False):
    """What a run returns: the accepted tool or the reason it was dropped, with provenance."""

    sample_id: str
    status: Literal["accepted", "rejected"]
    tool: ToolSpec | None
    leaf: ContextLeaf
    constraints: ConstraintPath
    request: ApiRequest
    attempts: Annotated[list[AttemptRecord], operator.add]
    reason: str | None
    reject_rule: str | None
    retryable: bool


class ApiSynthesisState(ApiSynthesisInput, ApiSynthesisOutput, total=False):
    """Everything the nodes share; ``outcome`` is the generation awaiting validation."""

    outcome: GenerationOutcome | None
