"""The JGLV judging graph: execution evidence, then a panel of label judges, then the count.

::

    evidence ──(label and prediction equivalent on real backends)──▶ END  BOTH_CORRECT
       │ otherwise: one Send per ballot (seat x A/B order)
       ▼
    label_judge (xN, concurrent) ──▶ tally ──▶ END  verdict by the panel rule

A judge that fails (malformed reply after the re-asks, endpoint error, timeout) is tried again
``judge_retries`` times, then its vote is ``UNJUDGED`` with the reason; no model failure
leaves the graph. Every node, model call and vote is recorded in the trace store under the
item's ``item_id``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any, Final, Literal

from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from looptool.agents.label_judge import AnswerOrder, Verdict, judge_label
from looptool.graphs.judging.context import JudgingContext
from looptool.graphs.judging.evidence import ExecutionEvidence, gather_evidence
from looptool.graphs.judging.panel import JudgeVote, count_votes, position_disagreement
from looptool.graphs.judging.settings import JglvSettings
from looptool.graphs.judging.state import (
    BallotState,
    DecidedBy,
    JudgingInputState,
    JudgingOutputState,
    JudgingState,
    LabelVerdict,
)
from looptool.traces import EventKind

log = logging.getLogger(__name__)

EVIDENCE: Final = "evidence"
LABEL_JUDGE: Final = "label_judge"
TALLY: Final = "tally"
DONE: Literal["__end__"] = "__end__"  # == langgraph END, typed for Command routing


def ballot_orders(settings: JglvSettings, sample_id: str, seat_name: str) -> list[AnswerOrder]:
    """The A/B orders one seat judges: both, or one drawn from a generator seeded by
    ``settings.seed``, the sample and the seat (the same on every rerun)."""
    if settings.orders == "both":
        return [AnswerOrder.LABEL_FIRST, AnswerOrder.PREDICTION_FIRST]
    rng = random.Random(f"{settings.seed}|{sample_id}|{seat_name}")
    return [rng.choice([AnswerOrder.LABEL_FIRST, AnswerOrder.PREDICTION_FIRST])]


def _describe_error(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _record(runtime: Runtime[JudgingContext], trace_id: str, kind: EventKind, node: str, content: str,
            data: dict[str, Any], started: float, role: str | None = None) -> None:
    traces = runtime.context.traces
    if traces is not None:
        traces.record(trace_id, kind, node=node, role=role, content=content, data=data, started_at=started)


async def evidence(
    state: JudgingState, runtime: Runtime[JudgingContext]
) -> Command[Literal["label_judge", "__end__"]]:
    """Run label and prediction on executable backends; decide BOTH_CORRECT when they agree,
    else send one ballot per seat and order to the judges."""
    started = time.time()
    context = runtime.context
    sample, prediction = state["sample"], state["prediction"]
    found: ExecutionEvidence | None = None
    if context.settings.execution_evidence:
        try:
            found = gather_evidence(sample, prediction, registry=context.registry, scenarios=context.scenarios)
        except Exception as error:  # e.g. a scenario the backend refuses: judge without evidence
            reason = f"execution failed: {_describe_error(error)}"
            log.warning("jglv %s: %s", state["item_id"], reason)
            found = ExecutionEvidence(status="not_applicable", reason=reason)
    note = f"{found.status}: {found.reason}" if found is not None else "execution evidence off"
    if found is not None and found.decides:
        result = LabelVerdict(sample_id=sample.id, verdict=Verdict.BOTH_CORRECT, decided_by="execution",
                              analysis=found.reason, evidence=found, prompt_version=context.prompt.version)
        _record(runtime, state["item_id"], EventKind.VERDICT, EVIDENCE, result.verdict.value,
                {"decided_by": "execution", "reason": found.reason}, started)
        _record(runtime, state["item_id"], EventKind.NODE, EVIDENCE, note, {"goto": DONE}, started)
        return Command(goto=DONE, update={"evidence": found, "result": result})
    ballots = [
        Send(LABEL_JUDGE, BallotState(item_id=state["item_id"], sample=sample, prediction=prediction,
                                      evidence=found, seat=judge.seat, order=order))
        for judge in context.panel
        for order in ballot_orders(context.settings, sample.id, judge.seat.name)
    ]
    _record(runtime, state["item_id"], EventKind.NODE, EVIDENCE, note,
            {"goto": LABEL_JUDGE, "ballots": len(ballots)}, started)
    return Command(goto=ballots, update={"evidence": found})


async def label_judge(state: BallotState, runtime: Runtime[JudgingContext]) -> Command[Literal["tally"]]:
    """One seat judges one A/B order, retried on failure; a judge that keeps failing votes
    UNJUDGED with the reason."""
    started = time.time()
    context = runtime.context
    settings = context.settings
    seat, order = state["seat"], state["order"]
    binding = context.binding(context.judge(seat.name), state["item_id"])
    shown = state["evidence"].for_judge() if state["evidence"] is not None else None
    errors: list[str] = []
    vote: JudgeVote | None = None
    for attempt in range(1, settings.judge_retries + 2):
        call = judge_label(binding, state["sample"], state["prediction"], order, evidence=shown,
                           prompt=context.prompt)
        try:
            judgement = await (asyncio.wait_for(call, settings.timeout_s) if settings.timeout_s else call)
        except Exception as error:  # any model failure becomes a recorded reason, never an exception
            errors.append(f"attempt {attempt}: {_describe_error(error)}")
            log.warning("jglv %s: judge %s failed (%s)", state["item_id"], seat.name, errors[-1])
            continue
        vote = JudgeVote(judge=seat.name, role=seat.role, order=order, verdict=judgement.verdict,
                         analysis=judgement.analysis, choice=judgement.choice, attempts=attempt)
        break
    if vote is None:
        vote = JudgeVote(judge=seat.name, role=seat.role, order=order, verdict=Verdict.UNJUDGED,
                         error="; ".join(errors), attempts=settings.judge_retries + 1)
    _record(runtime, state["item_id"], EventKind.VERDICT, LABEL_JUDGE, vote.analysis or vote.error or "",
            {"verdict": vote.verdict.value, "order": order.value, "choice": vote.choice,
             "attempts": vote.attempts, "error": vote.error}, started, role=seat.name)
    _record(runtime, state["item_id"], EventKind.NODE, LABEL_JUDGE, f"{seat.name} ({order.value})",
            {"goto": TALLY}, started, role=seat.name)
    return Command(goto=TALLY, update={"votes": [vote]})


async def tally(state: JudgingState, runtime: Runtime[JudgingContext]) -> Command[Literal["__end__"]]:
    """Count the votes with the panel rule (see :mod:`looptool.graphs.judging.panel`)."""
    started = time.time()
    context = runtime.context
    seat_index = {judge.seat.name: index for index, judge in enumerate(context.panel)}
    votes = sorted(state.get("votes", []), key=lambda vote: (seat_index.get(vote.judge, 0), vote.order.value != "label_first"))
    outcome = count_votes(votes)
    decided_by: DecidedBy = "unjudged" if outcome.verdict == Verdict.UNJUDGED else "panel"
    analysis = next((vote.analysis for vote in votes if vote.valid and vote.verdict == outcome.verdict), "")
    result = LabelVerdict(
        sample_id=state["sample"].id, verdict=outcome.verdict, decided_by=decided_by, analysis=analysis,
        votes=votes, panel_rule=outcome.rule, evidence=state.get("evidence"),
        position_disagreement=position_disagreement(votes) if context.settings.orders == "both" else None,
        prompt_version=context.prompt.version,
    )
    _record(runtime, state["item_id"], EventKind.VERDICT, TALLY, result.verdict.value,
            {"decided_by": decided_by, "rule": outcome.rule, "counts": outcome.counts,
             "position_disagreement": result.position_disagreement}, started)
    _record(runtime, state["item_id"], EventKind.NODE, TALLY, result.verdict.value, {"goto": DONE}, started)
    return Command(goto=DONE, update={"result": result})


def build_judging_graph() -> StateGraph[JudgingState, JudgingContext, JudgingInputState, JudgingOutputState]:
    builder = StateGraph(JudgingState, context_schema=JudgingContext,
                         input_schema=JudgingInputState, output_schema=JudgingOutputState)
    builder.add_node(EVIDENCE, evidence)
    builder.add_node(LABEL_JUDGE, label_judge)  # runs on a BallotState (sent by the evidence node)
    builder.add_node(TALLY, tally)
    builder.add_edge(START, EVIDENCE)
    return builder


def compile_judging_graph() -> CompiledStateGraph[JudgingState, JudgingContext, JudgingInputState, JudgingOutputState]:
    return build_judging_graph().compile(name="jglv_judging")


#: The compiled graph (``langgraph.json`` points here; LangGraph Studio opens it).
graph = compile_judging_graph()
