"""The EDDE expansion graph: generate k variants of an error seed, check them, validate them.

::

    generate ──(no usable reply after the retries)──────────────▶ finish ──▶ END
       │ candidates
       ▼
    check (unknown tool, schema, label kind, duplicates) ──(none kept)──▶ finish
       │ samples
       ▼
    validate (the injected validator, all samples at once) ──▶ finish

Nothing is lost: every candidate ends accepted or rejected with its reasons, and failed
generator attempts are listed with theirs; no model or validator failure leaves the graph.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Final, Literal

from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from looptool.agents.expander import GeneratedSample, generate_variants
from looptool.graphs.expansion.checks import KeptCandidate, RejectedSample, check_candidates
from looptool.graphs.expansion.context import ExpansionContext
from looptool.graphs.expansion.state import (
    ExpansionInputState,
    ExpansionOutputState,
    ExpansionResult,
    ExpansionState,
)
from looptool.schema import Sample
from looptool.traces import EventKind

log = logging.getLogger(__name__)

GENERATE: Final = "generate"
CHECK: Final = "check"
VALIDATE: Final = "validate"
FINISH: Final = "finish"
DONE: Literal["__end__"] = "__end__"  # == langgraph END, typed for Command routing


def _describe_error(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _record(runtime: Runtime[ExpansionContext], trace_id: str, kind: EventKind, node: str, content: str,
            data: dict[str, Any], started: float) -> None:
    traces = runtime.context.traces
    if traces is not None:
        traces.record(trace_id, kind, node=node, content=content, data=data, started_at=started)


async def generate(
    state: ExpansionState, runtime: Runtime[ExpansionContext]
) -> Command[Literal["check", "finish"]]:
    """Ask the generator for k samples, retrying a failed call; extras beyond k are rejected."""
    started = time.time()
    context = runtime.context
    settings = context.settings
    seed, k = state["seed"], state["k"]
    binding = context.binding(state["item_id"])
    errors: list[str] = []
    candidates: list[GeneratedSample] | None = None
    for attempt in range(1, settings.generator_retries + 2):
        call = generate_variants(binding, seed, k=k, focus=state["focus"], prompt=context.prompt)
        try:
            batch = await (asyncio.wait_for(call, settings.timeout_s) if settings.timeout_s else call)
        except Exception as error:  # any model failure becomes a recorded reason, never an exception
            errors.append(f"attempt {attempt}: {_describe_error(error)}")
            log.warning("edde %s: generator failed (%s)", state["item_id"], errors[-1])
            continue
        candidates = batch.samples
        break
    update: dict[str, Any] = {"generator_errors": errors, "candidates": [],
                              "produced": len(candidates or [])}
    if candidates is None:
        command: Command[Literal["check", "finish"]] = Command(goto=FINISH, update=update)
    else:
        update["candidates"] = candidates[:k]
        update["rejected"] = [
            RejectedSample(stage="local", reasons=[f"beyond_k: the generator returned more than k={k}"],
                           candidate=extra)
            for extra in candidates[k:]
        ]
        command = Command(goto=CHECK if candidates else FINISH, update=update)
    _record(runtime, state["item_id"], EventKind.NODE, GENERATE,
            f"{len(candidates)} candidate(s)" if candidates is not None else "; ".join(errors),
            {"goto": command.goto, "focus": state["focus"], "k": k, "errors": errors}, started)
    return command


async def check(state: ExpansionState, runtime: Runtime[ExpansionContext]) -> Command[Literal["validate", "finish"]]:
    """Local checks: label kind, unknown tools, argument schemas, duplicates."""
    started = time.time()
    checked = check_candidates(state["seed"], state["candidates"], focus=state["focus"],
                               prompt_version=runtime.context.prompt.version)
    for rejected in checked.rejected:
        _record(runtime, state["item_id"], EventKind.VERDICT, CHECK, "; ".join(rejected.reasons),
                {"accepted": False, "user_message": rejected.candidate.user_message}, started)
    goto: Literal["validate", "finish"] = VALIDATE if checked.kept else FINISH
    _record(runtime, state["item_id"], EventKind.NODE, CHECK,
            f"kept {len(checked.kept)}, rejected {len(checked.rejected)}", {"goto": goto}, started)
    return Command(goto=goto, update={"kept": checked.kept, "rejected": checked.rejected})


async def validate(state: ExpansionState, runtime: Runtime[ExpansionContext]) -> Command[Literal["finish"]]:
    """Every kept sample through the injected validator, concurrently."""
    started = time.time()
    validator = runtime.context.validator

    async def refusal(kept: KeptCandidate) -> RejectedSample | None:
        try:
            verdict = await validator(kept.sample)
        except Exception as error:  # a failing validator rejects the sample with the reason
            log.warning("edde %s: validator failed on %s (%s)", state["item_id"], kept.sample.id, error)
            reason = f"validator_error: {_describe_error(error)}"
            return RejectedSample(stage="validator", reasons=[reason], candidate=kept.candidate, sample=kept.sample)
        if verdict.accepted:
            return None
        return RejectedSample(stage="validator", reasons=[verdict.reason or "rejected without a stated reason"],
                              candidate=kept.candidate, sample=kept.sample)

    refusals = await asyncio.gather(*(refusal(kept) for kept in state["kept"]))
    accepted: list[Sample] = []
    rejected: list[RejectedSample] = []
    for kept, refused in zip(state["kept"], refusals, strict=True):
        if refused is None:
            accepted.append(kept.sample)
        else:
            rejected.append(refused)
        _record(runtime, state["item_id"], EventKind.VERDICT, VALIDATE,
                "; ".join(refused.reasons) if refused else "accepted",
                {"accepted": refused is None, "sample_id": kept.sample.id}, started)
    _record(runtime, state["item_id"], EventKind.NODE, VALIDATE,
            f"accepted {len(accepted)}, rejected {len(rejected)}", {"goto": FINISH}, started)
    return Command(goto=FINISH, update={"accepted": accepted, "rejected": rejected})


async def finish(state: ExpansionState, runtime: Runtime[ExpansionContext]) -> Command[Literal["__end__"]]:
    """Assemble the :class:`ExpansionResult`."""
    started = time.time()
    rejected = state.get("rejected", [])
    result = ExpansionResult(
        seed_id=state["seed"].sample.id, focus=state["focus"], asked=state["k"],
        produced=state.get("produced", 0),
        accepted=state.get("accepted", []), rejected=rejected,
        generator_errors=state.get("generator_errors", []), prompt_version=runtime.context.prompt.version,
    )
    _record(runtime, state["item_id"], EventKind.NODE, FINISH,
            f"asked {result.asked}, produced {result.produced}, accepted {len(result.accepted)}",
            {"goto": DONE}, started)
    return Command(goto=DONE, update={"result": result})


def build_expansion_graph() -> StateGraph[ExpansionState, ExpansionContext, ExpansionInputState, ExpansionOutputState]:
    builder = StateGraph(ExpansionState, context_schema=ExpansionContext,
                         input_schema=ExpansionInputState, output_schema=ExpansionOutputState)
    builder.add_node(GENERATE, generate)
    builder.add_node(CHECK, check)
    builder.add_node(VALIDATE, validate)
    builder.add_node(FINISH, finish)
    builder.add_edge(START, GENERATE)
    return builder


def compile_expansion_graph() -> CompiledStateGraph[ExpansionState, ExpansionContext, ExpansionInputState, ExpansionOutputState]:
    return build_expansion_graph().compile(name="edde_expansion")


#: The compiled graph (``langgraph.json`` points here; LangGraph Studio opens it).
graph = compile_expansion_graph()
