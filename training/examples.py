"""Sample -> GRPO example: the tool prompt as chat messages, the label kept as columns.

The prompt is :func:`looptool.prompts.render_prompt` (the renderer of the probe, held-out
evaluation and the benchmarks' ``prompt_hermes`` mode; the sample's system messages and
date/time ``now`` join the tool system prompt); TRL renders it with the model's chat template.
A prompt longer than ``max_prompt_tokens`` loses whole turns from the oldest end: the system
prompt with the tools and everything from the last user message on always stay. A prompt
still over the limit after that is dropped from the set and counted (a colocated vLLM would
reject it mid-run).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from looptool.codecs import render_hermes
from looptool.prompts import render_prompt
from looptool.schema import Sample, ToolCall

log = logging.getLogger(__name__)


class ChatTokenizer(Protocol):
    """What prompt building needs from a tokenizer: its chat template."""

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...


def count_prompt_tokens(tokenizer: ChatTokenizer, messages: list[dict[str, Any]]) -> int:
    """Tokens of ``messages`` rendered with the chat template plus the generation prompt."""
    encoded = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    return len(ids)


@dataclass(frozen=True)
class GRPOExample:
    """One training prompt and the label its reward compares against."""

    sample_id: str
    prompt: list[dict[str, Any]]
    label_kind: str
    label_calls: list[ToolCall] = field(default_factory=list)
    label_text: str = ""
    prompt_tokens: int = 0
    dropped_messages: int = 0
    over_limit: bool = False

    @property
    def truncated(self) -> bool:
        return self.dropped_messages > 0

    def label_completion(self) -> str:
        """The label written as the ideal completion (Hermes blocks or the text reply)."""
        return render_hermes(self.label_calls) if self.label_kind == "calls" else self.label_text

    def to_row(self) -> dict[str, Any]:
        """A dataset row; the label is JSON text so rows of different tools share a schema."""
        return {
            "prompt": self.prompt,
            "sample_id": self.sample_id,
            "label_kind": self.label_kind,
            "label_calls": encode_label_calls(self.label_calls),
            "label_text": self.label_text,
        }


def encode_label_calls(calls: Sequence[ToolCall]) -> str:
    return json.dumps([{"name": c.name, "arguments": c.arguments} for c in calls], ensure_ascii=False)


def decode_label_calls(text: str) -> list[ToolCall]:
    return [ToolCall.model_validate(item) for item in json.loads(text or "[]")]


def build_example(
    sample: Sample,
    tokenizer: ChatTokenizer | None,
    *,
    max_prompt_tokens: int,
    preamble: str = "",
) -> GRPOExample:
    """Convert one sample with :func:`looptool.prompts.render_prompt` (the renderer evaluation
    uses too), dropping the oldest turns while the prompt is too long."""
    counter = None if tokenizer is None else partial(count_prompt_tokens, tokenizer)
    rendered = render_prompt(
        sample.tools, sample.context, preamble=preamble, now=sample.now,
        count_tokens=counter, max_prompt_tokens=max_prompt_tokens,
    )
    return GRPOExample(
        sample_id=sample.id,
        prompt=rendered.messages,
        label_kind=sample.label_kind,
        label_calls=list(sample.label_calls),
        label_text=sample.label_text or "",
        prompt_tokens=rendered.tokens,
        dropped_messages=rendered.dropped_messages,
        over_limit=rendered.over_limit,
    )


@dataclass(frozen=True)
class ExampleSet:
    """Converted examples plus the truncation counts the run report shows. ``dropped`` holds
    the ids of samples whose prompt stayed over the limit after truncation (not in
    ``examples``)."""

    examples: list[GRPOExample]
    dropped: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> int:
        return sum(1 for example in self.examples if example.truncated)

    @property
    def over_limit(self) -> int:
        return len(self.dropped)

    @property
    def max_prompt_tokens_seen(self) -> int:
        return max((example.prompt_tokens for example in self.examples), default=0)

    def rows(self) -> list[dict[str, Any]]:
        return [example.to_row() for example in self.examples]


def build_examples(
    samples: Sequence[Sample],
    tokenizer: ChatTokenizer | None,
    *,
    max_prompt_tokens: int,
    preamble: str = "",
) -> ExampleSet:
    """Convert every sample; prompts still over ``max_prompt_tokens`` after truncation are
    dropped and counted. Logs how many were truncated or dropped."""
    converted = [
        build_example(sample, tokenizer, max_prompt_tokens=max_prompt_tokens, preamble=preamble)
        for sample in samples
    ]
    result = ExampleSet(
        [example for example in converted if not example.over_limit],
        dropped=[example.sample_id for example in converted if example.over_limit],
    )
    if result.truncated:
        log.warning(
            "%d of %d prompts were longer than %d tokens and lost their oldest turns",
            result.truncated,
            len(converted),
            max_prompt_tokens,
        )
    if result.dropped:
        log.warning(
            "%d of %d prompts are still over %d tokens after truncation (tools + last user turn "
            "alone are longer) and were dropped: %s",
            len(result.dropped),
            len(converted),
            max_prompt_tokens,
            ", ".join(result.dropped[:5]) + (" ..." if len(result.dropped) > 5 else ""),
        )
    return result
