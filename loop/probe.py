"""GCP, Greedy Capability Probing: what the current policy gets wrong, and how unsure it is.

Every sample of ``D_j`` is rendered exactly as training renders it (``training.examples``,
the model's chat template), greedy-decoded by the served policy, and scored by the reward's
own parser (``training.rewards.score_tool_match``): ToolMatch -> mastered, else mismatched.
For mastered samples the perplexity is measured, by default of the *label* (teacher-forced
``prompt_logprobs``), or of the greedy output (what the official code does). With thinking
models the think block is not counted: only tokens after the last ``</think>`` are scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from looptool.batch import BatchItem, ItemOutcome, finished_in_order, read_journal, run_batch
from looptool.codecs import decode_hermes_reply
from looptool.loop.records import ProbeRecord
from looptool.training.examples import ChatTokenizer, GRPOExample
from looptool.training.rewards import score_tool_match

THINK_END = "</think>"


class ProbeSettings(BaseModel):
    """``loop.probe``: greedy decoding and perplexity of the probing stage."""

    max_tokens: int = Field(default=128, ge=1, description="greedy completion length")
    concurrency: int = Field(default=16, ge=1, description="requests in flight")
    perplexity_of: Literal["label", "greedy", "none"] = Field(
        default="label",
        description="label: teacher-forced PPL of the label (prompt_logprobs); greedy: PPL of the "
        "model's own greedy output (the official code); none: skip",
    )
    high_ppl_top_fraction: float | None = Field(
        default=0.3, gt=0.0, le=1.0, description="keep this top fraction of mastered samples by PPL"
    )
    high_ppl_threshold: float | None = Field(
        default=None, gt=0.0, description="or keep mastered samples with PPL above this (wins when set)"
    )


class Completion(Protocol):
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int


class TokenScores(Protocol):
    @property
    def perplexity(self) -> float: ...


class ProbeClient(Protocol):
    """What probing needs from the served policy (``looptool`` raw completions client)."""

    async def complete(
        self, prompt: str | list[int], *, max_tokens: int = 64, temperature: float = 0.0, **extra: Any
    ) -> Any: ...

    async def continuation_logprobs(
        self, context: str | list[int], continuation: str | list[int]
    ) -> Any: ...


@dataclass(frozen=True)
class ProbeTools:
    """The policy's client and tokenizer (the tokenizer of the checkpoint being probed)."""

    client: ProbeClient
    tokenizer: ChatTokenizer
    settings: ProbeSettings


def prompt_ids(tokenizer: ChatTokenizer, example: GRPOExample) -> list[int]:
    """The training prompt rendered with the chat template and the generation prompt."""
    encoded = tokenizer.apply_chat_template(example.prompt, tokenize=True, add_generation_prompt=True)
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    return [int(token) for token in ids]


def _encode(tokenizer: ChatTokenizer, text: str) -> list[int]:
    encode = getattr(tokenizer, "encode", None)
    if encode is None:
        raise TypeError("the probing tokenizer needs an encode() method")
    return [int(token) for token in encode(text, add_special_tokens=False)]


def greedy_perplexity(tokens: Sequence[str], logprobs: Sequence[float]) -> float | None:
    """PPL of a greedy output from its own token log-probabilities, after the last ``</think>``."""
    start = 0
    text = ""
    for index, token in enumerate(tokens):
        text += token
        if text.rstrip().endswith(THINK_END):
            start = index + 1
    scored = [value for value in list(logprobs)[start:] if math.isfinite(value)]
    if not scored:
        return None
    return math.exp(-sum(scored) / len(scored))


async def probe_example(example: GRPOExample, tools: ProbeTools) -> ProbeRecord:
    """Greedy-decode one example, score it, and measure perplexity when it is mastered.

    ``greedy`` perplexity comes from the same request (the generated tokens' log-probabilities,
    as the official code takes vLLM's cumulative logprob); ``label`` perplexity is one more
    request (the label teacher-forced, ``prompt_logprobs``)."""
    settings = tools.settings
    ids = prompt_ids(tools.tokenizer, example)
    extra: dict[str, Any] = {"logprobs": 1} if settings.perplexity_of == "greedy" else {}
    result = await tools.client.complete(ids, max_tokens=settings.max_tokens, temperature=0.0, **extra)
    text = str(result.text)
    matched = score_tool_match(text, example.label_kind, list(example.label_calls)) == 1.0
    parsed = decode_hermes_reply(text)
    record = ProbeRecord(
        sample_id=example.sample_id,
        completion=text,
        predicted_calls=list(parsed.calls) if parsed.ok else [],
        predicted_text=(parsed.content.strip() or None) if parsed.ok and not parsed.calls else None,
        parse_error=None if parsed.ok else str(parsed.error),
        matched=matched,
        prompt_tokens=int(result.prompt_tokens),
        completion_tokens=int(result.completion_tokens),
        finish_reason=result.finish_reason,
    )
    if settings.perplexity_of == "greedy" and matched:
        record.perplexity = greedy_perplexity(list(getattr(result, "tokens", [])),
                                              list(getattr(result, "token_logprobs", [])))
        record.perplexity_of = "greedy" if record.perplexity is not None else None
    elif settings.perplexity_of == "label":
        # every sample: mastered ones rank for D^HPPL, BOTH_CORRECT mismatches are kept by it
        continuation_ids = _encode(tools.tokenizer, example.label_completion())
        if continuation_ids:
            score = await tools.client.continuation_logprobs(ids, continuation_ids)
            record.perplexity = float(score.perplexity)
            record.perplexity_of = "label"
    return record


def select_high_ppl(records: Sequence[ProbeRecord], settings: ProbeSettings) -> list[str]:
    """Ids of mastered samples kept as D^HPPL: above the threshold, or the top fraction by PPL."""
    scored = [r for r in records if r.matched and r.perplexity is not None and math.isfinite(r.perplexity)]
    if settings.high_ppl_threshold is not None:
        return [r.sample_id for r in scored if (r.perplexity or 0.0) > settings.high_ppl_threshold]
    if settings.high_ppl_top_fraction is None or not scored:
        return []
    keep = max(1, round(len(scored) * settings.high_ppl_top_fraction))
    ranked = sorted(scored, key=lambda r: (-(r.perplexity or 0.0), r.sample_id))
    return [r.sample_id for r in ranked[:keep]]


class ProbeSummary(BaseModel):
    """What one probing pass found over a set of samples."""

    probed: int = 0
    mastered: int = 0
    mismatched: int = 0
    failed: int = 0
    failures: list[str] = Field(default_factory=list, description="'<id>: <reason>' of failed requests")
    seconds: float = 0.0

    @property
    def accuracy(self) -> float | None:
        """ToolMatch accuracy over the samples that were probed (None when none was)."""
        return self.mastered / self.probed if self.probed else None


async def probe_samples(
    examples: Sequence[GRPOExample],
    tools: ProbeTools,
    *,
    journal: Path,
    description: str = "probe",
    progress: bool = True,
) -> tuple[list[ProbeRecord], ProbeSummary]:
    """Probe every example through the batch runner (resumable via ``journal``).

    Returns the finished records in the examples' order and a summary; a request that failed
    (server error after the transport's retries) is counted and retried by the next run.
    """
    items = [BatchItem(example.sample_id, example) for example in examples]

    async def work(item: BatchItem[GRPOExample]) -> ItemOutcome[ProbeRecord]:
        record = await probe_example(item.payload, tools)
        return ItemOutcome.accepted(record) if record.matched else ItemOutcome.rejected(record, "mismatch")

    batch = await run_batch(
        items, work, journal=journal, result_model=ProbeRecord, concurrency=tools.settings.concurrency,
        description=description, progress=progress, stop_after_failures=max(8, tools.settings.concurrency),
    )
    records = [r.result for r in finished_in_order(read_journal(journal, ProbeRecord), [i.id for i in items])
               if r.result is not None]
    summary = ProbeSummary(
        probed=len(records),
        mastered=sum(1 for r in records if r.matched),
        mismatched=sum(1 for r in records if not r.matched),
        failed=len(items) - len(records),
        failures=[f"{failure.id}: {failure.reason}" for failure in batch.failures][:20],
        seconds=batch.seconds,
    )
    return records, summary
