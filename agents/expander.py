"""The generator role of EDDE: new hard samples around one real error of the policy.

Given an *error seed* (a sample with its correct label, the policy's wrong answer, and the
judge's analysis of the error) and a scenario focus, the generator writes ``k`` new examples
that keep the error's structure and difficulty (the same tools, the same kind of label) with
a new user message and new argument values. Its structured reply is a list of
``{user_message, label_calls | label_text}``; turning them into samples and rejecting bad
ones is the expansion graph's job (:mod:`looptool.graphs.expansion`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from looptool.agents.label_judge import (
    EpisodeAttempt,
    Prediction,
    describe_attempt,
    describe_label,
    describe_prediction,
    describe_state,
    describe_tools_full,
)
from looptool.agents.role_call import RoleBinding, RolePrompt, call_structured
from looptool.agents.step_judge import describe_context
from looptool.episodes import Episode
from looptool.schema import Sample, ToolCall, ToolSpec

EXPANDER_PROMPT = RolePrompt(
    name="expander",
    version="expander/v1",
    text="""You write new training examples for an AI assistant that can call tools. The
assistant got the example below wrong. Write $k NEW examples that train the same skill and
contain the same trap that caused the mistake.

Tools offered (every new example offers exactly these):
$tools

Conversation of the original example:
$context

Its correct answer:
$label

The assistant's wrong answer:
$wrong

What went wrong:
$analysis

Focus for the new examples: $focus

Rules:
- Each example is one new user message and the correct answer to it.
- $label_rule
- Invent new situations and new argument values; do not reuse the original request or its values.
- Every argument value must follow from the user message and match the tool's parameters.
- Keep the difficulty of the original: the same kind of detail the assistant missed must matter.

Answer with a JSON object: {"samples": [{"user_message": "...", "label_calls": [{"name": "...",
"arguments": {...}}], "label_text": null}, ...]} with $k entries.""",
)

LABEL_RULES = {
    "single": "The correct answer calls exactly one tool: fill label_calls with one call and set label_text to null.",
    "parallel": "The correct answer makes $n tool calls in one step (parallel calls): fill label_calls "
    "with several calls and set label_text to null.",
    "text": "The correct answer is a text reply without any tool call (for example asking the user for a "
    "missing value, or saying no tool fits): set label_text and leave label_calls empty.",
}

#: Default scenario focuses; one is drawn per generator request.
DEFAULT_FOCUS = [
    "complexity: a longer request with one extra detail or constraint the answer must respect",
    "persona: a different kind of user (a nurse, a student, a retiree, a developer) in their own words",
    "interaction style: terse, casual or indirect phrasing, with the key values mentioned in passing",
    "data variation: different, realistic argument values (names, numbers, dates, units, places)",
]

LabelKind = Literal["single", "parallel", "text"]


def label_kind(calls: list[Any]) -> LabelKind:
    """``text`` (no call), ``single`` (one call) or ``parallel`` (several calls in one step)."""
    if not calls:
        return "text"
    return "parallel" if len(calls) > 1 else "single"


class ErrorSeed(BaseModel):
    """A real error of the policy: the sample with its correct label (after relabeling, if
    any), the wrong answer, and the judge's analysis."""

    model_config = ConfigDict(extra="forbid")

    sample: Sample
    wrong: Prediction
    analysis: str = ""
    iteration: int = Field(0, ge=0, description="loop iteration the expansions belong to")

    @property
    def kind(self) -> LabelKind:
        return label_kind(self.sample.label_calls)


class GeneratedCall(BaseModel):
    """One tool call of a generated label."""

    model_config = ConfigDict(extra="ignore")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    def to_call(self) -> ToolCall:
        return ToolCall(name=self.name, arguments=self.arguments)


class GeneratedSample(BaseModel):
    """One new example as the generator wrote it (checked by the expansion graph)."""

    model_config = ConfigDict(extra="ignore")

    user_message: str
    label_calls: list[GeneratedCall] = Field(default_factory=list)
    label_text: str | None = None


class GeneratedBatch(BaseModel):
    """The generator's structured reply."""

    model_config = ConfigDict(extra="ignore")

    samples: list[GeneratedSample]


def render_expander_prompt(seed: ErrorSeed, *, k: int, focus: str, prompt: RolePrompt = EXPANDER_PROMPT) -> str:
    sample = seed.sample
    label_rule = LABEL_RULES[seed.kind].replace("$n", str(len(sample.label_calls)))
    return prompt.render(
        k=k,
        tools=describe_tools_full(sample.tools),
        context=describe_context(sample.context, sample.now),
        label=describe_label(sample),
        wrong=describe_prediction(seed.wrong),
        analysis=seed.analysis.strip() or "(no analysis given)",
        focus=focus,
        label_rule=label_rule,
    )


async def generate_variants(
    binding: RoleBinding, seed: ErrorSeed, *, k: int, focus: str, prompt: RolePrompt = EXPANDER_PROMPT
) -> GeneratedBatch:
    """The generator's ``k`` new examples for ``seed`` (raises :class:`RoleOutputError` when
    its reply never parses, and whatever the model client raises when the call fails)."""
    text = render_expander_prompt(seed, k=k, focus=focus, prompt=prompt)
    return await call_structured(binding, "expander", [{"role": "user", "content": text}], GeneratedBatch)


# ------------------------------------------------------------------------------- episodes

EPISODE_EXPANDER_PROMPT = RolePrompt(
    name="episode_expander",
    version="episode_expander/v1",
    text="""You write new multi-step tasks for an AI assistant that works with tools on real
backends. The assistant failed the task below. Write $k NEW tasks that train the same skill and
contain the same trap that caused the failure.

Tools offered (every new task offers exactly these):
$tools

The original task (its setting and the user's instruction):
$context

State of the backends before it:
$initial_state

A correct solution (calls in order, what the backend answered, the state it left):
$reference

The assistant's failed attempt:
$attempt

What went wrong:
$analysis

Focus for the new tasks: $focus

Rules:
- Each task is a new user instruction, the backends' initial state, and the calls that solve it.
- Give initial_state per backend in the same shape as the original ($backends).
- The calls must succeed one after the other on that initial state and change it.
- Invent new names, paths and values; do not reuse the original instruction.
- Every value a call needs must follow from the instruction and the initial state.

Answer with a JSON object: {"episodes": [{"instruction": "...", "initial_state": {...},
"calls": [{"name": "...", "arguments": {...}}]}, ...]} with $k entries.""",
)


class GeneratedEpisode(BaseModel):
    """One new task as the generator wrote it (checked by replay in the loop)."""

    model_config = ConfigDict(extra="ignore")

    instruction: str
    initial_state: dict[str, dict[str, Any]] = Field(default_factory=dict)
    calls: list[GeneratedCall] = Field(default_factory=list)


class GeneratedEpisodes(BaseModel):
    """The generator's structured reply for an episode seed."""

    model_config = ConfigDict(extra="ignore")

    episodes: list[GeneratedEpisode]


def render_episode_expander_prompt(
    episode: Episode, tools: list[ToolSpec], reference: EpisodeAttempt, attempt: EpisodeAttempt, *, k: int,
    focus: str, analysis: str = "", prompt: RolePrompt = EPISODE_EXPANDER_PROMPT,
) -> str:
    return prompt.render(
        k=k,
        tools=describe_tools_full(tools),
        context=describe_context(episode.context, episode.now),
        initial_state=describe_state(dict(episode.initial_state)),
        reference=describe_attempt(reference),
        attempt=describe_attempt(attempt),
        analysis=analysis.strip() or "(no analysis given)",
        focus=focus,
        backends=", ".join(episode.backends),
    )


async def generate_episode_variants(
    binding: RoleBinding, episode: Episode, tools: list[ToolSpec], reference: EpisodeAttempt,
    attempt: EpisodeAttempt, *, k: int, focus: str, analysis: str = "",
    prompt: RolePrompt = EPISODE_EXPANDER_PROMPT,
) -> GeneratedEpisodes:
    """The generator's ``k`` new tasks around a failed episode (raises like :func:`generate_variants`)."""
    text = render_episode_expander_prompt(episode, tools, reference, attempt, k=k, focus=focus, analysis=analysis,
                                          prompt=prompt)
    return await call_structured(binding, "episode_expander", [{"role": "user", "content": text}],
                                 GeneratedEpisodes)
