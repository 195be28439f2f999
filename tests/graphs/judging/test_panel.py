"""The panel rule and the position-bias flag, vote by vote."""

from __future__ import annotations

import pytest

from looptool.agents.label_judge import AnswerOrder, Verdict
from looptool.graphs.judging.panel import JudgeVote, count_votes, position_disagreement
from looptool.graphs.judging.settings import JglvSettings

P, L, C, W, U = (Verdict.PRED_WRONG, Verdict.LABEL_WRONG, Verdict.BOTH_CORRECT, Verdict.BOTH_WRONG,
                 Verdict.UNJUDGED)


def votes(*verdicts: Verdict) -> list[JudgeVote]:
    return [JudgeVote(judge=f"j{index}", role="judge", order=AnswerOrder.LABEL_FIRST, verdict=verdict)
            for index, verdict in enumerate(verdicts)]


@pytest.mark.parametrize(("cast", "verdict", "rule"), [
    ((), U, "no_valid_vote"),
    ((U, U), U, "no_valid_vote"),
    ((P,), P, "single"),
    ((U, L), L, "single"),
    ((P, P), P, "agreement"),
    ((P, L), Verdict.UNDECIDED, "tie"),
    ((P, P, L), P, "majority"),
    ((P, L, C), Verdict.UNDECIDED, "no_majority"),
    ((W, W, U), W, "agreement"),
    ((P, P, L, L), Verdict.UNDECIDED, "no_majority"),
    ((C, C, C, L), C, "majority"),
])
def test_panel_rule(cast: tuple[Verdict, ...], verdict: Verdict, rule: str) -> None:
    outcome = count_votes(votes(*cast))
    assert (outcome.verdict, outcome.rule) == (verdict, rule)
    assert outcome.valid_votes == sum(1 for item in cast if item != U)


def both_orders(first: Verdict, second: Verdict, judge: str = "j") -> list[JudgeVote]:
    return [JudgeVote(judge=judge, role="judge", order=AnswerOrder.LABEL_FIRST, verdict=first),
            JudgeVote(judge=judge, role="judge", order=AnswerOrder.PREDICTION_FIRST, verdict=second)]


def test_position_disagreement() -> None:
    assert position_disagreement(both_orders(P, P)) is False
    assert position_disagreement(both_orders(P, L)) is True
    assert position_disagreement(both_orders(P, P, "a") + both_orders(C, W, "b")) is True
    assert position_disagreement(both_orders(P, U)) is None  # one order unjudged: nothing to compare
    assert position_disagreement(votes(P, L)) is None


def test_seats_cycle_through_the_judges() -> None:
    seats = JglvSettings(judges=["judge", "generator"], panel_size=4).seats()
    assert [(seat.name, seat.role) for seat in seats] == [
        ("judge#1", "judge"), ("generator#1", "generator"), ("judge#2", "judge"), ("generator#2", "generator")]
    assert [seat.name for seat in JglvSettings().seats()] == ["judge"]
    with pytest.raises(ValueError, match="smaller than the number of judges"):
        JglvSettings(judges=["judge", "generator"], panel_size=1)
