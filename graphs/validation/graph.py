"""Two-stage validation of a simulated dialogue: rules, then the LLM judge.

::

    rules ──(violations)──▶ END (rejected, stage "rules")
      │ clean
      ▼
    judge ──▶ END (accepted, or rejected with the judge's reasons)

With ``dialogue_synth.judge: false`` (or no judge model) a dialogue that passes the rules is
accepted by the rules stage alone. Every verdict is recorded in the trace store.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Final, Literal

from langchain_core.language_models import BaseChatModel
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from looptool.agents.judge import JUDGE_PROMPT, judge_step
from looptool.agents.role_call import RoleBinding, RoleOutputError, RolePrompt
from looptool.graphs.dialogue.config import DialogueSynthSettings
from looptool.graphs.validation.rules import check_dialogue
from looptool.graphs.validation.state import (
    StepJudgement,
    ValidationInputState,
    ValidationOutputState,
    ValidationState,
)
from looptool.schema import Role
from looptool.traces import EventKind, TraceStore

RULES: Final = "rules"
JUDGE: Final = "judge"
DONE: Literal["__end__"] = "__end__"  # == langgraph END, typed for Command routing


@dataclass
class ValidationContext:
    """Run-time dependencies of the validation graph."""

    settings: DialogueSynthSettings
    judge_model: BaseChatModel | None = None
    traces: TraceStore | None = None
    prompt: RolePrompt = JUDGE_PROMPT


def _verdict(runtime: Runtime[ValidationContext], trace_id: str, node: str, content: str,
             data: dict[str, Any], started: float) -> None:
    if runtime.context.traces is not None:
        runtime.context.traces.record(trace_id, EventKind.VERDICT, node=node, role=node,
                                      content=content, data=data, started_at=started)


async def rules(
    state: ValidationState, runtime: Runtime[ValidationContext]
) -> Command[Literal["judge", "__end__"]]:
    """Stage 1: deterministic rules."""
    started = time.time()
    dialogue = state["dialogue"]
    settings = runtime.context.settings
    violations = check_dialogue(dialogue.messages, dialogue.tools, settings,
                                irrelevant=state["irrelevant"], stop_reason=state["stop_reason"],
                                parse_errors=state.get("parse_errors", []))
    reasons = [violation.describe() for violation in violations]
    passed = not violations
    _verdict(runtime, dialogue.id, RULES, "pass" if passed else "; ".join(reasons),
             {"passed": passed, "violations": [v.model_dump() for v in violations]}, started)
    update: dict[str, Any] = {"violations": violations, "reasons": reasons, "stage": RULES}
    if not passed:
        return Command(goto=DONE, update={**update, "status": "rejected"})
    if not settings.judge or runtime.context.judge_model is None:
        return Command(goto=DONE, update={**update, "status": "accepted"})
    return Command(goto=JUDGE, update=update)


async def judge(
    state: ValidationState, runtime: Runtime[ValidationContext]
) -> Command[Literal["__end__"]]:
    """Stage 2: the judge's verdict on every assistant step."""
    context = runtime.context
    dialogue = state["dialogue"]
    assert context.judge_model is not None
    binding = RoleBinding(model=context.judge_model, role=context.settings.roles.judge,
                          trace_id=dialogue.id, traces=context.traces,
                          structured_method=context.settings.structured_output,
                          parse_retries=context.settings.parse_retries,
                          record_prompts=context.settings.trace_prompts)
    steps = [(position, message) for position, message in enumerate(dialogue.messages)
             if message.role == Role.ASSISTANT]

    async def judge_one(step: int, position: int) -> StepJudgement:
        started = time.time()
        try:
            verdict = await judge_step(binding, dialogue.tools, dialogue.messages[:position],
                                       dialogue.messages[position], prompt=context.prompt)
            judgement = StepJudgement(step=step, consistent=verdict.consistent,
                                      reason=verdict.reason.strip() or "(no reason given)")
        except RoleOutputError as error:
            judgement = StepJudgement(step=step, consistent=False, reason=f"no usable verdict: {error}")
        _verdict(runtime, dialogue.id, JUDGE, judgement.reason,
                 {"step": step, "consistent": judgement.consistent}, started)
        return judgement

    # every step is judged at once (more requests in flight keep the server busy)
    judgements = list(await asyncio.gather(
        *(judge_one(step, position) for step, (position, _message) in enumerate(steps))))
    reasons = [f"step {item.step}: judge: {item.reason}" for item in judgements if not item.consistent]
    status = "rejected" if reasons else "accepted"
    return Command(goto=DONE, update={"judgements": judgements, "reasons": reasons, "stage": JUDGE,
                                     "status": status})


def build_validation_graph() -> StateGraph[ValidationState, ValidationContext, ValidationInputState, ValidationOutputState]:
    builder = StateGraph(ValidationState, context_schema=ValidationContext,
                         input_schema=ValidationInputState, output_schema=ValidationOutputState)
    builder.add_node(RULES, rules)
    builder.add_node(JUDGE, judge)
    builder.add_edge(START, RULES)
    return builder


def compile_validation_graph() -> CompiledStateGraph[ValidationState, ValidationContext, ValidationInputState, ValidationOutputState]:
    return build_validation_graph().compile(name="seed_validation")


#: The compiled graph (``langgraph.json`` points here).
graph = compile_validation_graph()
