"""The label-judge role of JGLV: for a probe mismatch, is the model's prediction wrong, the
sample's label wrong, both right, or both wrong?

The judge never learns which answer is the label: it sees the two candidates as "Answer A"
and "Answer B" in an order the caller chooses (:class:`AnswerOrder`), argues first
(``analysis``) and then decides which answers are correct (``correct``: A, B, both,
neither). :func:`verdict_for` maps that back to a :class:`Verdict` about label and
prediction. Text replies (a label or prediction that calls no tool) are judged the same way.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from looptool.agents.role_call import RoleBinding, RolePrompt, call_structured
from looptool.agents.step_judge import describe_context
from looptool.codecs import parse_hermes, render_hermes
from looptool.episodes import Episode
from looptool.loop.verdicts import Verdict
from looptool.schema import Sample, ToolCall, ToolSpec

LABEL_JUDGE_PROMPT = RolePrompt(
    name="label_judge",
    version="label_judge/v1",
    text="""You check a training example for an AI assistant that can call tools.

Tools offered:
$tools

Conversation so far:
$context

Two candidate answers for the assistant's next step follow. One of them is the example's
label, the other was written by a model; you are not told which.

Answer A:
$answer_a

Answer B:
$answer_b
$evidence
Which answers correctly fulfil the last request, given the conversation and the tools? An
answer is wrong when it calls the wrong tool, misses a needed call or makes an unneeded one,
uses a wrong or invented argument value, leaves out a required argument, or replies in text
when a tool call was needed (or calls a tool when the right reply is text, e.g. asking the
user for a missing value). Two answers are both correct when they differ only in ways that do
not matter (order of independent calls, equivalent values or spellings).

Answer with a JSON object with two keys: "analysis" (first: what is wrong and in which answer,
naming the tool and the argument; at most three sentences) and "correct" ("A", "B", "both" or
"neither").""",
)

MAX_ANALYSIS_CHARS = 800

Choice = Literal["A", "B", "both", "neither"]


#: What a judge can decide (the others are panel outcomes).
JUDGE_VERDICTS: tuple[Verdict, ...] = (
    Verdict.PRED_WRONG, Verdict.LABEL_WRONG, Verdict.BOTH_CORRECT, Verdict.BOTH_WRONG,
)


class AnswerOrder(StrEnum):
    """Which candidate the judge sees as "Answer A"."""

    LABEL_FIRST = "label_first"
    PREDICTION_FIRST = "prediction_first"


class Prediction(BaseModel):
    """The policy's answer to a sample: tool calls, or a text reply, from its raw completion.

    ``parse_error`` is set when the completion's ``<tool_call>`` blocks did not parse (then
    ``calls`` is empty and the judge sees ``raw``)."""

    model_config = ConfigDict(extra="forbid")

    calls: list[ToolCall] = Field(default_factory=list)
    text: str | None = None
    raw: str = ""
    parse_error: str | None = None

    @classmethod
    def from_completion(cls, raw: str) -> Prediction:
        """Parse a Hermes-format completion (the format the policy is trained on)."""
        parsed = parse_hermes(raw)
        if not parsed.ok:
            return cls(raw=raw, parse_error=str(parsed.error))
        if parsed.calls:
            return cls(calls=parsed.calls, raw=raw)
        return cls(text=parsed.content, raw=raw)

    @property
    def kind(self) -> Literal["calls", "text", "unparseable"]:
        if self.parse_error is not None:
            return "unparseable"
        return "calls" if self.calls else "text"


class JudgeReply(BaseModel):
    """The judge's structured answer (reason first, so the model argues before it decides)."""

    model_config = ConfigDict(extra="ignore")

    analysis: str = Field(
        default="", description="what is wrong and in which answer, naming the tool and argument"
    )
    correct: Choice = Field(description='which answers are correct: "A", "B", "both" or "neither"')

    @field_validator("analysis")
    @classmethod
    def _short(cls, analysis: str) -> str:
        return " ".join(analysis.split())[:MAX_ANALYSIS_CHARS]


class LabelJudgement(BaseModel):
    """One judge's answer mapped back to label/prediction terms."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    analysis: str
    choice: Choice
    order: AnswerOrder


def verdict_for(choice: Choice, order: AnswerOrder) -> Verdict:
    """Map the judge's A/B choice back to label/prediction terms."""
    if choice == "both":
        return Verdict.BOTH_CORRECT
    if choice == "neither":
        return Verdict.BOTH_WRONG
    label_is_a = order == AnswerOrder.LABEL_FIRST
    label_correct = (choice == "A") == label_is_a
    return Verdict.PRED_WRONG if label_correct else Verdict.LABEL_WRONG


class AnswerEvidence(BaseModel):
    """Execution evidence already rendered as text, per candidate, plus a shared note."""

    model_config = ConfigDict(extra="forbid")

    label: str = ""
    prediction: str = ""
    note: str = ""


def describe_label(sample: Sample) -> str:
    """The sample's label as the judge reads it (Hermes blocks, or the text reply)."""
    if sample.label_calls:
        return render_hermes(sample.label_calls)
    return f"(text reply, no tool call) {sample.label_text or ''}"


def describe_prediction(prediction: Prediction) -> str:
    """The prediction as the judge reads it; unparseable output is shown raw."""
    if prediction.parse_error is not None:
        return f"(malformed tool-call output: {prediction.parse_error})\n{prediction.raw[:1500]}"
    if prediction.calls:
        return render_hermes(prediction.calls)
    return f"(text reply, no tool call) {prediction.text or ''}"


def describe_tools_full(tools: list[ToolSpec]) -> str:
    """One JSON line per tool (name, description, full parameter schema): the judge needs
    enums, defaults and types to check argument values."""
    lines = [
        json.dumps({"name": tool.name, "description": tool.description, "parameters": tool.parameters},
                   ensure_ascii=False)
        for tool in tools
    ]
    return "\n".join(lines) or "(none)"


def _evidence_block(evidence: AnswerEvidence, order: AnswerOrder) -> str:
    if not (evidence.label or evidence.prediction or evidence.note):
        return ""
    first, second = ((evidence.label, evidence.prediction) if order == AnswerOrder.LABEL_FIRST
                     else (evidence.prediction, evidence.label))
    lines = ["", "Both answers were executed on fresh copies of the real tools:"]
    if first:
        lines.append(f"Answer A ran: {first}")
    if second:
        lines.append(f"Answer B ran: {second}")
    if evidence.note:
        lines.append(evidence.note)
    return "\n".join(lines) + "\n"


def render_judge_prompt(
    sample: Sample,
    prediction: Prediction,
    order: AnswerOrder,
    *,
    evidence: AnswerEvidence | None = None,
    prompt: RolePrompt = LABEL_JUDGE_PROMPT,
) -> str:
    """The judge's prompt with the candidates in ``order``."""
    label, predicted = describe_label(sample), describe_prediction(prediction)
    answer_a, answer_b = (label, predicted) if order == AnswerOrder.LABEL_FIRST else (predicted, label)
    return prompt.render(
        tools=describe_tools_full(sample.tools),
        context=describe_context(sample.context, sample.now),
        answer_a=answer_a,
        answer_b=answer_b,
        evidence=_evidence_block(evidence or AnswerEvidence(), order),
    )


async def judge_label(
    binding: RoleBinding,
    sample: Sample,
    prediction: Prediction,
    order: AnswerOrder,
    *,
    evidence: AnswerEvidence | None = None,
    prompt: RolePrompt = LABEL_JUDGE_PROMPT,
) -> LabelJudgement:
    """One judge's verdict on a mismatch (raises :class:`RoleOutputError` when its reply never
    parses, and whatever the model client raises when the call fails)."""
    text = render_judge_prompt(sample, prediction, order, evidence=evidence, prompt=prompt)
    reply = await call_structured(binding, "label_judge", [{"role": "user", "content": text}], JudgeReply)
    return LabelJudgement(verdict=verdict_for(reply.correct, order), analysis=reply.analysis,
                          choice=reply.correct, order=order)


# ------------------------------------------------------------------------------- episodes

EPISODE_JUDGE_PROMPT = RolePrompt(
    name="episode_judge",
    version="episode_judge/v1",
    text="""You check a multi-step task for an AI assistant that works with tools on real backends.

Tools offered:
$tools

The task (its setting and the user's instruction):
$context

State of the backends before the task:
$initial_state

Two attempts at the task follow: every call each one made, what the backend answered, and the
state it left. One of them is the task's reference solution, the other was made by a model;
you are not told which.

Attempt A:
$attempt_a

Attempt B:
$attempt_b

Which attempts fulfil the user's instruction, given the initial state and the tools? An attempt
is wrong when it leaves the backends in a state the instruction did not ask for: a missing or
extra change, a wrong name, path, date or value, or a change the user did not want. Two attempts
are both correct when their end states differ only in ways the instruction leaves open (order of
independent steps, an equally valid name or place the user did not fix).

Answer with a JSON object with two keys: "analysis" (first: what is wrong and in which attempt,
naming the call and the value; at most three sentences) and "correct" ("A", "B", "both" or
"neither").""",
)

MAX_RESULT_CHARS = 300
MAX_STATE_CHARS = 2000


class AttemptStep(BaseModel):
    """One executed call of an attempt and what the backend answered."""

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, object] = Field(default_factory=dict)
    ok: bool = True
    result: str = ""


class EpisodeAttempt(BaseModel):
    """One attempt at an episode as the judge reads it: its executed calls and the end state
    it left (the keys the episode compares)."""

    model_config = ConfigDict(extra="forbid")

    steps: list[AttemptStep] = Field(default_factory=list)
    end_state: dict[str, dict[str, object]] = Field(default_factory=dict)
    note: str = Field(default="", description="e.g. how the attempt stopped")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_state(state: dict[str, dict[str, object]]) -> str:
    if not state:
        return "(empty)"
    return _clip(json.dumps(state, ensure_ascii=False, sort_keys=True, default=str), MAX_STATE_CHARS)


def describe_attempt(attempt: EpisodeAttempt) -> str:
    """Numbered calls with their results, then the end state."""
    lines = []
    for number, step in enumerate(attempt.steps, start=1):
        status = "ok" if step.ok else "error"
        arguments = json.dumps(step.arguments, ensure_ascii=False, sort_keys=True)
        lines.append(f"{number}. {step.name}({arguments}) -> {status}: {_clip(step.result, MAX_RESULT_CHARS)}")
    if not lines:
        lines.append("(no tool call)")
    if attempt.note:
        lines.append(f"({attempt.note})")
    lines.append(f"State after: {describe_state(attempt.end_state)}")
    return "\n".join(lines)


def render_episode_judge_prompt(
    episode: Episode,
    tools: list[ToolSpec],
    reference: EpisodeAttempt,
    attempt: EpisodeAttempt,
    order: AnswerOrder,
    *,
    initial_state: dict[str, dict[str, object]] | None = None,
    prompt: RolePrompt = EPISODE_JUDGE_PROMPT,
) -> str:
    """The episode judge's prompt: the reference is the "label", the policy's attempt the
    "prediction" (:class:`AnswerOrder` says which one is A)."""
    first, second = (reference, attempt) if order == AnswerOrder.LABEL_FIRST else (attempt, reference)
    return prompt.render(
        tools=describe_tools_full(tools),
        context=describe_context(episode.context, episode.now),
        initial_state=describe_state(initial_state if initial_state is not None else dict(episode.initial_state)),
        attempt_a=describe_attempt(first),
        attempt_b=describe_attempt(second),
    )


async def judge_episode(
    binding: RoleBinding,
    episode: Episode,
    tools: list[ToolSpec],
    reference: EpisodeAttempt,
    attempt: EpisodeAttempt,
    order: AnswerOrder,
    *,
    initial_state: dict[str, dict[str, object]] | None = None,
    prompt: RolePrompt = EPISODE_JUDGE_PROMPT,
) -> LabelJudgement:
    """One judge's verdict on a failed episode: PRED_WRONG when only the reference fulfils the
    instruction, LABEL_WRONG when only the policy's attempt does (raises like :func:`judge_label`)."""
    text = render_episode_judge_prompt(episode, tools, reference, attempt, order, initial_state=initial_state,
                                       prompt=prompt)
    reply = await call_structured(binding, "episode_judge", [{"role": "user", "content": text}], JudgeReply)
    return LabelJudgement(verdict=verdict_for(reply.correct, order), analysis=reply.analysis,
                          choice=reply.correct, order=order)
