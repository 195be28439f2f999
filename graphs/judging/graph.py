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

import logging
import random
import time
from typing import Final, Literal

from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from looptool.agents.label_judge import AnswerOrder, Verdict, judge_label
from looptool.graphs.judging.ballots import cast_vote, describe_error, record, tally_votes
from looptool.graphs.judging.context import JudgingContext
from looptool.graphs.judging.evidence import ExecutionEvidence, gather_evidence
from looptool.graphs.judging.panel import position_disagreement
from looptool.graphs.judging.settings import JglvSettings
from looptool.graphs.judging.state import (
    BallotState,
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
            reason = f"execution failed: {describe_error(error)}"
            log.warning("jglv %s: %s", state["item_id"], reason)
            found = ExecutionEvidence(status="not_applicable", reason=reason)
    note = f"{found.status}: {found.reason}" if found is not None else "execution evidence off"
    if found is not None and found.decides:
        result = LabelVerdict(sample_id=sample.id, verdict=Verdict.BOTH_CORRECT, decided_by="execution",
                              analysis=found.reason, evidence=found, prompt_version=context.prompt.version)
        record(runtime, state["item_id"], EventKind.VERDICT, EVIDENCE, result.verdict.value,
                {"decided_by": "execution", "reason": found.reason}, started)
        record(runtime, state["item_id"], EventKind.NODE, EVIDENCE, note, {"goto": DONE}, started)
        return Command(goto=DONE, update={"evidence": found, "result": result})
    ballots = [
        Send(LABEL_JUDGE, BallotState(item_id=state["item_id"], sample=sample, prediction=prediction,
                                      evidence=found, seat=judge.seat, order=order))
        for judge in context.panel
        for order in ballot_orders(context.settings, sample.id, judge.seat.name)
    ]
    record(runtime, state["item_id"], EventKind.NODE, EVIDENCE, note,
            {"goto": LABEL_JUDGE, "ballots": len(ballots)}, started)
    return Command(goto=ballots, update={"evidence": found})


async def label_judge(state: BallotState, runtime: Runtime[JudgingContext]) -> Command[Literal["tally"]]:
    """One seat judges one A/B order, retried on failure; a judge that keeps failing votes
    UNJUDGED with the reason."""
    context = runtime.context
    seat, order = state["seat"], state["order"]
    binding = context.binding(context.judge(seat.name), state["item_id"])
    shown = state["evidence"].for_judge() if state["evidence"] is not None else None
    vote = await cast_vote(
        runtime, state["item_id"], seat, order,
        lambda: judge_label(binding, state["sample"], state["prediction"], order, evidence=shown, prompt=context.prompt),
        node=LABEL_JUDGE, next_node=TALLY)
    return Command(goto=TALLY, update={"votes": [vote]})


async def tally(state: JudgingState, runtime: Runtime[JudgingContext]) -> Command[Literal["__end__"]]:
    """Count the votes with the panel rule (see :mod:`looptool.graphs.judging.panel`)."""
    started = time.time()
    context = runtime.context
    counted = tally_votes(state.get("votes", []), context)
    votes, outcome, decided_by, analysis = counted.votes, counted.count, counted.decided_by, counted.analysis
    result = LabelVerdict(
        sample_id=state["sample"].id, verdict=outcome.verdict, decided_by=decided_by, analysis=analysis,
        votes=votes, panel_rule=outcome.rule, evidence=state.get("evidence"),
        position_disagreement=position_disagreement(votes) if context.settings.orders == "both" else None,
        prompt_version=context.prompt.version,
    )
    record(runtime, state["item_id"], EventKind.VERDICT, TALLY, result.verdict.value,
            {"decided_by": decided_by, "rule": outcome.rule, "counts": outcome.counts,
             "position_disagreement": result.position_disagreement}, started)
    record(runtime, state["item_id"], EventKind.NODE, TALLY, result.verdict.value, {"goto": DONE}, started)
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
