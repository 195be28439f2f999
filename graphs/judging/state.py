"""States of the JGLV judging graph (TypedDicts; reducers on the types) and its result.

``votes`` accumulates (``operator.add``): every ballot (one seat, one A/B order) runs as its
own ``label_judge`` task (LangGraph ``Send``) and appends its vote.
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from looptool.agents.label_judge import AnswerOrder, Prediction, Verdict
from looptool.graphs.judging.evidence import ExecutionEvidence
from looptool.graphs.judging.panel import JudgeVote
from looptool.graphs.judging.settings import PanelSeat
from looptool.schema import Sample

DecidedBy = Literal["execution", "panel", "unjudged"]


class LabelVerdict(BaseModel):
    """JGLV's result for one mismatch."""

    model_config = ConfigDict(extra="forbid")

    sample_id: str
    verdict: Verdict
    decided_by: DecidedBy
    analysis: str = Field(
        default="", description="the error analysis behind the verdict (first agreeing vote, or the evidence)"
    )
    votes: list[JudgeVote] = Field(default_factory=list)
    panel_rule: str | None = Field(default=None, description="how the votes were counted (see graphs.judging.panel)")
    evidence: ExecutionEvidence | None = None
    position_disagreement: bool | None = Field(
        default=None, description="orders=both: some judge changed its verdict with the A/B order"
    )
    prompt_version: str = ""

    @property
    def unjudged(self) -> bool:
        return self.verdict == Verdict.UNJUDGED


class JudgingInputState(TypedDict):
    """One mismatch: the sample (with its label) and the policy's prediction."""

    item_id: str  # the trace id
    sample: Sample
    prediction: Prediction


class JudgingOutputState(TypedDict):
    """The verdict."""

    result: LabelVerdict


class JudgingState(JudgingInputState, JudgingOutputState):
    """The full working state."""

    evidence: ExecutionEvidence | None
    votes: Annotated[list[JudgeVote], operator.add]


class BallotState(TypedDict):
    """What one ``label_judge`` task gets (sent by the evidence node)."""

    item_id: str
    sample: Sample
    prediction: Prediction
    evidence: ExecutionEvidence | None
    seat: PanelSeat
    order: AnswerOrder
