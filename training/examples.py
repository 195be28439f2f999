"""Sample -> GRPO example: the tool prompt as chat messages, the label kept as columns.

The prompt is :func:`looptool.prompts.chat_messages` (the same prompt the benchmarks'
prompt mode uses; the sample's system messages and date/time ``now`` join the tool system
prompt); TRL renders it with the model's chat template. A prompt longer than
``max_prompt_tokens`` loses whole turns from the oldest end: the system prompt with the
tools and everything from the last user message on always stay.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from looptool.codecs import render_hermes
from looptool.prompts import chat_messages
from looptool.schema import Message, Role, Sample, ToolCall

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


def _turn_starts(context: list[Message]) -> list[int]:
    """Indices of non-system messages where a turn begins (each user message; the first
    non-system message also starts one)."""
    starts: list[int] = []
    for index, message in enumerate(context):
        if message.role == Role.SYSTEM:
            continue
        if not starts or message.role == Role.USER:
            starts.append(index)
    return starts


def _last_user_index(context: list[Message]) -> int:
    for index in range(len(context) - 1, -1, -1):
        if context[index].role == Role.USER:
            return index
    return 0


def build_example(
    sample: Sample,
    tokenizer: ChatTokenizer | None,
    *,
    max_prompt_tokens: int,
    preamble: str = "",
) -> GRPOExample:
    """Convert one sample, dropping the oldest turns while the prompt is too long."""
    context = list(sample.context)
    keep_from = _last_user_index(context)
    dropped = 0
    messages = chat_messages(sample.tools, context, preamble, now=sample.now)
    tokens = count_prompt_tokens(tokenizer, messages) if tokenizer is not None else 0
    while tokenizer is not None and tokens > max_prompt_tokens:
        starts = [i for i in _turn_starts(context) if i <= keep_from]
        if len(starts) < 2 and not (starts and starts[0] < keep_from):
            break  # only the protected part is left
        first = starts[0]
        end = starts[1] if len(starts) > 1 else keep_from
        removable = [i for i in range(first, end) if context[i].role != Role.SYSTEM]
        if not removable:
            break
        context = [m for i, m in enumerate(context) if i not in set(removable)]
        dropped += len(removable)
        keep_from -= len(removable)
        messages = chat_messages(sample.tools, context, preamble, now=sample.now)
        tokens = count_prompt_tokens(tokenizer, messages)
    return GRPOExample(
        sample_id=sample.id,
        prompt=messages,
        label_kind=sample.label_kind,
        label_calls=list(sample.label_calls),
        label_text=sample.label_text or "",
        prompt_tokens=tokens,
        dropped_messages=dropped,
        over_limit=tokenizer is not None and tokens > max_prompt_tokens,
    )


@dataclass(frozen=True)
class ExampleSet:
    """Converted examples plus the truncation counts the run report shows."""

    examples: list[GRPOExample]

    @property
    def truncated(self) -> int:
        return sum(1 for example in self.examples if example.truncated)

    @property
    def over_limit(self) -> int:
        return sum(1 for example in self.examples if example.over_limit)

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
    """Convert every sample; logs how many prompts were truncated or stay over the limit."""
    examples = [
        build_example(sample, tokenizer, max_prompt_tokens=max_prompt_tokens, preamble=preamble)
        for sample in samples
    ]
    result = ExampleSet(examples)
    if result.truncated:
        log.warning(
            "%d of %d prompts were longer than %d tokens and lost their oldest turns",
            result.truncated,
            len(examples),
            max_prompt_tokens,
        )
    if result.over_limit:
        log.warning(
            "%d prompts are still over %d tokens after truncation (tools + last user turn "
            "alone are longer); they are kept as they are",
            result.over_limit,
            max_prompt_tokens,
        )
    return result
