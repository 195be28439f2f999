"""What every JGLV judging graph does per ballot and at the tally, whatever it judges
(a single-step mismatch or a failed episode): ask one seat in one A/B order with retries, record
the vote in the trace store, and count the panel's votes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime

from looptool.agents.label_judge import AnswerOrder, LabelJudgement, Verdict
from looptool.graphs.judging.context import JudgingContext
from looptool.graphs.judging.panel import JudgeVote, PanelOutcome, count_votes
from looptool.graphs.judging.settings import PanelSeat
from looptool.graphs.judging.state import DecidedBy
from looptool.traces import EventKind

log = logging.getLogger(__name__)


def describe_error(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def record(runtime: Runtime[JudgingContext], trace_id: str, kind: EventKind, node: str, content: str,
           data: dict[str, Any], started: float, role: str | None = None) -> None:
    """One trace event, when the context has a trace store."""
    traces = runtime.context.traces
    if traces is not None:
        traces.record(trace_id, kind, node=node, role=role, content=content, data=data, started_at=started)


async def cast_vote(runtime: Runtime[JudgingContext], item_id: str, seat: PanelSeat, order: AnswerOrder,
                    ask: Callable[[], Awaitable[LabelJudgement]], *, node: str, next_node: str) -> JudgeVote:
    """``ask`` the seat's judge, retried ``judge_retries`` times (each bounded by ``timeout_s``);
    a judge that keeps failing votes UNJUDGED with the reasons. The vote is traced."""
    started = time.time()
    settings = runtime.context.settings
    errors: list[str] = []
    vote: JudgeVote | None = None
    for attempt in range(1, settings.judge_retries + 2):
        call = ask()
        try:
            judgement = await (asyncio.wait_for(call, settings.timeout_s) if settings.timeout_s else call)
        except Exception as error:  # any model failure becomes a recorded reason, never an exception
            errors.append(f"attempt {attempt}: {describe_error(error)}")
            log.warning("jglv %s: judge %s failed (%s)", item_id, seat.name, errors[-1])
            continue
        vote = JudgeVote(judge=seat.name, role=seat.role, order=order, verdict=judgement.verdict,
                         analysis=judgement.analysis, choice=judgement.choice, attempts=attempt)
        break
    if vote is None:
        vote = JudgeVote(judge=seat.name, role=seat.role, order=order, verdict=Verdict.UNJUDGED,
                         error="; ".join(errors), attempts=settings.judge_retries + 1)
    record(runtime, item_id, EventKind.VERDICT, node, vote.analysis or vote.error or "",
           {"verdict": vote.verdict.value, "order": order.value, "choice": vote.choice,
            "attempts": vote.attempts, "error": vote.error}, started, role=seat.name)
    record(runtime, item_id, EventKind.NODE, node, f"{seat.name} ({order.value})", {"goto": next_node}, started,
           role=seat.name)
    return vote


@dataclass(frozen=True)
class Tally:
    """The panel's votes in seat order and what they decide."""

    votes: list[JudgeVote]
    count: PanelOutcome
    decided_by: DecidedBy
    analysis: str


def tally_votes(votes: Sequence[JudgeVote], context: JudgingContext) -> Tally:
    """Count the votes with the panel rule (:mod:`looptool.graphs.judging.panel`); the analysis
    is the first valid vote's for the winning verdict."""
    seat_index = {judge.seat.name: index for index, judge in enumerate(context.panel)}
    ordered = sorted(votes, key=lambda vote: (seat_index.get(vote.judge, 0), vote.order.value != "label_first"))
    count = count_votes(ordered)
    decided_by: DecidedBy = "unjudged" if count.verdict == Verdict.UNJUDGED else "panel"
    analysis = next((vote.analysis for vote in ordered if vote.valid and vote.verdict == count.verdict), "")
    return Tally(votes=ordered, count=count, decided_by=decided_by, analysis=analysis)
