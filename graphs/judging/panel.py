"""The judge panel's votes and how they are counted.

**The rule** (over the *valid* votes, i.e. all but ``UNJUDGED`` ones; with ``orders: both``
each seat casts two votes, one per A/B order):

* no valid vote: ``UNJUDGED`` (decided by nobody; the votes carry the reasons);
* one valid vote: that vote's verdict;
* two valid votes: they must agree, else ``UNDECIDED`` (a tie);
* three or more: a strict majority (more than half of the valid votes), else ``UNDECIDED``.

So a panel of one judge judging both orders needs both orders to agree, and a panel of three
with one failed judge needs the two remaining to agree.

**Position bias**: with ``orders: both``, ``position_disagreement`` is True when some seat
voted differently for the two orders (both votes valid), False when every seat with two valid
votes agreed with itself, None when no seat has two valid votes (or orders were random).
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict

from looptool.agents.label_judge import AnswerOrder, Choice, Verdict


class JudgeVote(BaseModel):
    """One seat's vote for one A/B order; ``UNJUDGED`` with ``error`` when the judge failed."""

    model_config = ConfigDict(extra="forbid")

    judge: str
    role: str
    order: AnswerOrder
    verdict: Verdict
    analysis: str = ""
    choice: Choice | None = None
    error: str | None = None
    attempts: int = 1

    @property
    def valid(self) -> bool:
        return self.verdict != Verdict.UNJUDGED


class PanelOutcome(BaseModel):
    """The counted votes: the verdict, the rule that produced it, and the tally."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    rule: Literal["no_valid_vote", "single", "agreement", "tie", "majority", "no_majority"]
    counts: dict[str, int]
    valid_votes: int


def count_votes(votes: list[JudgeVote]) -> PanelOutcome:
    """Apply the panel rule (module doc) to ``votes``."""
    valid = [vote.verdict for vote in votes if vote.valid]
    counts = Counter(str(verdict) for verdict in valid)
    if not valid:
        return PanelOutcome(verdict=Verdict.UNJUDGED, rule="no_valid_vote", counts={}, valid_votes=0)
    if len(valid) == 1:
        return PanelOutcome(verdict=valid[0], rule="single", counts=dict(counts), valid_votes=1)
    if len(valid) == 2:
        agreed = valid[0] == valid[1]
        return PanelOutcome(verdict=valid[0] if agreed else Verdict.UNDECIDED,
                            rule="agreement" if agreed else "tie", counts=dict(counts), valid_votes=2)
    top, top_count = counts.most_common(1)[0]
    if top_count * 2 > len(valid):
        return PanelOutcome(verdict=Verdict(top), rule="majority", counts=dict(counts), valid_votes=len(valid))
    return PanelOutcome(verdict=Verdict.UNDECIDED, rule="no_majority", counts=dict(counts),
                        valid_votes=len(valid))


def position_disagreement(votes: list[JudgeVote]) -> bool | None:
    """Whether a seat's verdict changed with the A/B order (module doc); None when unknown."""
    by_seat: dict[str, dict[AnswerOrder, Verdict]] = {}
    for vote in votes:
        if vote.valid:
            by_seat.setdefault(vote.judge, {})[vote.order] = vote.verdict
    compared = [verdicts for verdicts in by_seat.values() if len(verdicts) == 2]
    if not compared:
        return None
    return any(len(set(verdicts.values())) > 1 for verdicts in compared)
