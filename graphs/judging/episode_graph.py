"""JGLV on a failed episode: a panel of episode judges, then the count.

::

    START ──(one Send per ballot: seat x A/B order)──▶ episode_judge (xN) ──▶ tally ──▶ END

The same panel, ballot orders, retries, vote counting and traces as the single-step judging
graph (:mod:`looptool.graphs.judging.graph`); the ballot is the episode prompt
(:data:`~looptool.agents.label_judge.EPISODE_JUDGE_PROMPT`), which shows the reference
solution and the policy's attempt as "Attempt A/B" with every call's result and the state each
left. Execution decides nothing here: the attempt already ran and missed the expected end state.
"""

from __future__ import annotations

import logging
import operator
import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal, TypedDict

from langchain_core.language_models import BaseChatModel
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from looptool.agents.label_judge import (
    EPISODE_JUDGE_PROMPT,
    AnswerOrder,
    EpisodeAttempt,
    judge_episode,
)
from looptool.episodes import Episode
from looptool.graphs.judging.ballots import cast_vote, record, tally_votes
from looptool.graphs.judging.context import JudgingContext, PanelJudge, build_panel
from looptool.graphs.judging.graph import ballot_orders
from looptool.graphs.judging.panel import JudgeVote, position_disagreement
from looptool.graphs.judging.settings import JglvSettings, PanelSeat
from looptool.graphs.judging.state import LabelVerdict
from looptool.schema import ToolSpec
from looptool.traces import EventKind, TraceStore

log = logging.getLogger(__name__)

EPISODE_JUDGE: Final = "episode_judge"
TALLY: Final = "tally"
DONE: Literal["__end__"] = "__end__"
TRACE_KIND: Final = "jglv"


class EpisodeJudgingInputState(TypedDict):
    """One failed episode: the task, its tools, the reference solution and the policy's attempt."""

    item_id: str
    episode: Episode
    tools: list[ToolSpec]
    reference: EpisodeAttempt
    attempt: EpisodeAttempt
    initial_state: dict[str, dict[str, object]]


class EpisodeJudgingOutputState(TypedDict):
    result: LabelVerdict


class EpisodeJudgingState(EpisodeJudgingInputState, EpisodeJudgingOutputState):
    votes: Annotated[list[JudgeVote], operator.add]


class EpisodeBallotState(EpisodeJudgingInputState):
    seat: PanelSeat
    order: AnswerOrder




def send_ballots(state: EpisodeJudgingInputState, runtime: Runtime[JudgingContext]) -> list[Send]:
    """One ballot per seat and A/B order (the orders drawn as for single-step mismatches)."""
    context = runtime.context
    return [
        Send(EPISODE_JUDGE, EpisodeBallotState(**state, seat=judge.seat, order=order))
        for judge in context.panel
        for order in ballot_orders(context.settings, state["episode"].id, judge.seat.name)
    ]


async def episode_judge(state: EpisodeBallotState, runtime: Runtime[JudgingContext]) -> Command[Literal["tally"]]:
    """One seat judges one A/B order, retried on failure; a judge that keeps failing votes UNJUDGED."""
    context = runtime.context
    seat, order = state["seat"], state["order"]
    binding = context.binding(context.judge(seat.name), state["item_id"])
    vote = await cast_vote(
        runtime, state["item_id"], seat, order,
        lambda: judge_episode(binding, state["episode"], state["tools"], state["reference"], state["attempt"], order,
                              initial_state=state["initial_state"], prompt=context.prompt),
        node=EPISODE_JUDGE, next_node=TALLY)
    return Command(goto=TALLY, update={"votes": [vote]})


async def tally(state: EpisodeJudgingState, runtime: Runtime[JudgingContext]) -> Command[Literal["__end__"]]:
    """Count the votes with the panel rule (:mod:`looptool.graphs.judging.panel`)."""
    started = time.time()
    context = runtime.context
    counted = tally_votes(state.get("votes", []), context)
    votes, outcome, decided_by, analysis = counted.votes, counted.count, counted.decided_by, counted.analysis
    result = LabelVerdict(
        sample_id=state["episode"].id, verdict=outcome.verdict, decided_by=decided_by, analysis=analysis,
        votes=votes, panel_rule=outcome.rule,
        position_disagreement=position_disagreement(votes) if context.settings.orders == "both" else None,
        prompt_version=context.prompt.version,
    )
    record(runtime, state["item_id"], EventKind.VERDICT, TALLY, result.verdict.value,
            {"decided_by": decided_by, "rule": outcome.rule, "counts": outcome.counts}, started)
    record(runtime, state["item_id"], EventKind.NODE, TALLY, result.verdict.value, {"goto": DONE}, started)
    return Command(goto=DONE, update={"result": result})


def build_episode_judging_graph() -> StateGraph[EpisodeJudgingState, JudgingContext, EpisodeJudgingInputState,
                                                EpisodeJudgingOutputState]:
    builder = StateGraph(EpisodeJudgingState, context_schema=JudgingContext,
                         input_schema=EpisodeJudgingInputState, output_schema=EpisodeJudgingOutputState)
    builder.add_node(EPISODE_JUDGE, episode_judge)
    builder.add_node(TALLY, tally)
    builder.add_conditional_edges(START, send_ballots, [EPISODE_JUDGE])
    return builder


#: The compiled graph (``langgraph.json`` points here; LangGraph Studio opens it).
graph: CompiledStateGraph[EpisodeJudgingState, JudgingContext, EpisodeJudgingInputState,
                          EpisodeJudgingOutputState] = build_episode_judging_graph().compile(name="jglv_episode_judging")


def episode_judging_context(settings: JglvSettings, judges: Mapping[str, BaseChatModel] | Sequence[PanelJudge],
                            traces: TraceStore | None = None) -> JudgingContext:
    """The judging context with the episode prompt (``jglv.prompts.episode_judge`` overrides it)."""
    panel = build_panel(settings, judges) if isinstance(judges, Mapping) else list(judges)
    return JudgingContext(settings=settings, panel=panel, traces=traces,
                          prompt=EPISODE_JUDGE_PROMPT.with_override(settings.prompts.get("episode_judge")))


async def judge_failed_episode(
    episode: Episode,
    tools: list[ToolSpec],
    reference: EpisodeAttempt,
    attempt: EpisodeAttempt,
    *,
    settings: JglvSettings,
    judges: Mapping[str, BaseChatModel] | Sequence[PanelJudge],
    initial_state: dict[str, dict[str, object]] | None = None,
    traces: TraceStore | None = None,
    trace_id: str | None = None,
) -> LabelVerdict:
    """The panel's :class:`LabelVerdict` on a failed episode (``sample_id`` is the episode id);
    its trace (``trace_id``, default ``jglv:episode:<id>``) is opened and closed with the verdict."""
    context = episode_judging_context(settings, judges, traces)
    item_id = trace_id or f"{TRACE_KIND}:episode:{episode.id}"
    if traces is not None:
        traces.start(item_id, kind=TRACE_KIND, metadata={"episode_id": episode.id})
    state = EpisodeJudgingInputState(item_id=item_id, episode=episode, tools=tools, reference=reference,
                                     attempt=attempt, initial_state=initial_state or dict(episode.initial_state))
    output: dict[str, Any] = await graph.ainvoke(state, context=context)
    result: LabelVerdict = output["result"]
    if traces is not None:
        traces.finish(item_id, result.verdict.value, metadata={"decided_by": result.decided_by,
                                                                "panel_rule": result.panel_rule})
    return result
