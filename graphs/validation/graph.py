"""Two-stage validation of a dialogue or a sample: rules, then the LLM step judge.

::

    rules ──(violations)──▶ END (rejected, stage "rules")
      │ clean
      ▼
    judge ──▶ END (accepted, or rejected with the judge's reasons)

A dialogue (seed synthesis) is checked and judged at every assistant step; a sample (e.g. an
expanded variant) at its label step, with its context as the conversation before it. With
``validation.judge: false`` (or no judge model) whatever passes the rules is accepted by the
rules stage alone. Every verdict is recorded in the trace store under the dialogue's or the
sample's id.

For one sample, :func:`validate_sample` runs the graph and returns a typed
:class:`SampleValidation`.
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
from pydantic import BaseModel, ConfigDict, Field

from looptool.agents.role_call import RoleBinding, RoleOutputError, RolePrompt
from looptool.agents.step_judge import (
    STEP_JUDGE_PROMPT,
    StepJudgement,
    judge_step,
    unusable_verdict,
)
from looptool.graphs.validation.rules import RuleViolation, check_dialogue, check_sample, label_step
from looptool.graphs.validation.samples import dialogue_now, label_message
from looptool.graphs.validation.settings import JudgeCall, ValidatingSection, ValidationSettings
from looptool.graphs.validation.state import (
    Stage,
    ValidationInputState,
    ValidationOutputState,
    ValidationState,
)
from looptool.schema import Message, Role, Sample, ToolSpec
from looptool.traces import EventKind, TraceStore

RULES: Final = "rules"
JUDGE: Final = "judge"
DONE: Literal["__end__"] = "__end__"  # == langgraph END, typed for Command routing


@dataclass(init=False)
class ValidationContext:
    """Run-time dependencies of the validation graph.

    ``settings`` is the validation settings, or a config section that embeds them (such as
    ``dialogue_synth``): then its judge role and structured-output knobs are the
    :class:`JudgeCall` unless one is given."""

    settings: ValidationSettings
    judge_model: BaseChatModel | None
    traces: TraceStore | None
    prompt: RolePrompt
    judge_call: JudgeCall

    def __init__(
        self,
        settings: ValidationSettings | ValidatingSection,
        judge_model: BaseChatModel | None = None,
        traces: TraceStore | None = None,
        prompt: RolePrompt = STEP_JUDGE_PROMPT,
        judge_call: JudgeCall | None = None,
    ) -> None:
        if isinstance(settings, ValidationSettings):
            self.settings = settings
            self.judge_call = judge_call or JudgeCall()
        else:
            self.settings = settings.validation
            self.judge_call = judge_call or settings.judge_call()
        self.judge_model = judge_model
        self.traces = traces
        self.prompt = prompt

    @property
    def judging(self) -> bool:
        """Whether the judge stage runs after clean rules."""
        return self.settings.judge and self.judge_model is not None


@dataclass(frozen=True)
class _Subject:
    """What is validated, seen as one conversation: ``positions`` are the indices in
    ``messages`` of the assistant steps to check and judge; the first has step index
    ``first_step``."""

    id: str
    tools: list[ToolSpec]
    messages: list[Message]
    positions: list[int]
    first_step: int
    now: str | None


def _subject(state: ValidationState) -> _Subject:
    dialogue, sample = state.get("dialogue"), state.get("sample")
    if (dialogue is None) == (sample is None):
        raise ValueError("validation input needs exactly one of 'dialogue' or 'sample'")
    if dialogue is not None:
        positions = [index for index, message in enumerate(dialogue.messages) if message.role == Role.ASSISTANT]
        return _Subject(dialogue.id, dialogue.tools, dialogue.messages, positions, 0, dialogue_now(dialogue))
    assert sample is not None
    messages = [*sample.context, label_message(sample)]
    return _Subject(sample.id, sample.tools, messages, [len(messages) - 1], label_step(sample), sample.now)


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
    settings = runtime.context.settings
    irrelevant = state.get("irrelevant", False)
    dialogue, sample = state.get("dialogue"), state.get("sample")
    subject = _subject(state)
    if dialogue is not None:
        violations = check_dialogue(dialogue.messages, dialogue.tools, settings, irrelevant=irrelevant,
                                    stop_reason=state.get("stop_reason"),
                                    parse_errors=state.get("parse_errors", []), now=subject.now)
    else:
        assert sample is not None
        violations = check_sample(sample, settings, irrelevant=irrelevant)
    reasons = [violation.describe() for violation in violations]
    passed = not violations
    _verdict(runtime, subject.id, RULES, "pass" if passed else "; ".join(reasons),
             {"passed": passed, "violations": [v.model_dump() for v in violations]}, started)
    update: dict[str, Any] = {"violations": violations, "reasons": reasons, "stage": RULES}
    if not passed:
        return Command(goto=DONE, update={**update, "status": "rejected"})
    if not runtime.context.judging:
        return Command(goto=DONE, update={**update, "status": "accepted"})
    return Command(goto=JUDGE, update=update)


async def judge(
    state: ValidationState, runtime: Runtime[ValidationContext]
) -> Command[Literal["__end__"]]:
    """Stage 2: the step judge's verdict on every step to judge."""
    context = runtime.context
    subject = _subject(state)
    assert context.judge_model is not None
    call = context.judge_call
    binding = RoleBinding(model=context.judge_model, role=call.role, trace_id=subject.id,
                          traces=context.traces, structured_method=call.structured_method,
                          parse_retries=call.parse_retries, record_prompts=call.record_prompts)

    async def judge_one(step: int, position: int) -> StepJudgement:
        started = time.time()
        try:
            judgement = await judge_step(binding, subject.tools, subject.messages[:position],
                                         subject.messages[position], step=step, now=subject.now,
                                         prompt=context.prompt)
        except RoleOutputError as error:
            judgement = unusable_verdict(step, str(error))
        _verdict(runtime, subject.id, JUDGE, judgement.reason,
                 {"step": step, "consistent": judgement.consistent}, started)
        return judgement

    # every step is judged at once (more requests in flight keep the server busy)
    judgements = list(await asyncio.gather(
        *(judge_one(subject.first_step + offset, position) for offset, position in enumerate(subject.positions))))
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
    return build_validation_graph().compile(name="validation")


#: The compiled graph (``langgraph.json`` points here).
graph = compile_validation_graph()


class SampleValidation(BaseModel):
    """The verdict on one sample: accepted or not, the stage that decided, and why."""

    model_config = ConfigDict(extra="forbid")

    sample_id: str
    accepted: bool
    stage: Stage
    violations: list[RuleViolation] = Field(default_factory=list)
    judgement: StepJudgement | None = None  # None when the judge did not run
    reason: str = ""  # the reasons joined ("" when accepted)


async def validate_sample(
    sample: Sample,
    *,
    settings: ValidationSettings,
    judge_model: BaseChatModel | None,
    traces: TraceStore | None = None,
    judge_call: JudgeCall | None = None,
    prompt: RolePrompt = STEP_JUDGE_PROMPT,
    irrelevant: bool = False,
) -> SampleValidation:
    """Validate one sample's label step: the rules (its calls against its tools' schemas,
    values grounded in its context), then the step judge when ``settings.judge`` and a
    ``judge_model`` are given. Verdicts are traced under ``sample.id``. ``irrelevant``: no
    offered tool fits the request, so any call is a violation."""
    result = await graph.ainvoke(
        {"sample": sample, "irrelevant": irrelevant},
        context=ValidationContext(settings, judge_model=judge_model, traces=traces, prompt=prompt,
                                  judge_call=judge_call),
    )
    judgements: list[StepJudgement] = result.get("judgements", [])
    return SampleValidation(
        sample_id=sample.id,
        accepted=result["status"] == "accepted",
        stage=result["stage"],
        violations=result.get("violations", []),
        judgement=judgements[0] if judgements else None,
        reason="; ".join(result.get("reasons", [])),
    )
