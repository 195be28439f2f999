"""GCP on one example: greedy prediction scored by the reward's parser, PPL of label or output."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from looptool.codecs import render_hermes
from looptool.loop.probe import (
    ProbeSettings,
    ProbeTools,
    greedy_perplexity,
    probe_example,
    select_high_ppl,
)
from looptool.loop.records import ProbeRecord
from looptool.schema import Message, Role, Sample, ToolCall, ToolSpec
from looptool.training.examples import build_example

TOOL = ToolSpec(name="add", parameters={"type": "object", "properties": {"a": {"type": "integer"}}})
LABEL = [ToolCall(name="add", arguments={"a": 2})]


class CharTokenizer:
    """One token per character; the 'chat template' joins the contents."""

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> list[int]:
        return [ord(c) for c in "|".join(str(m["content"]) for m in conversation)]

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(c) for c in text]


@dataclass
class Result:
    text: str
    finish_reason: str | None = "stop"
    prompt_tokens: int = 5
    completion_tokens: int = 3
    tokens: list[str] = field(default_factory=list)
    token_logprobs: list[float] = field(default_factory=list)


@dataclass
class Score:
    perplexity: float


@dataclass
class FakeClient:
    reply: str
    scored: list[tuple[list[int], list[int]]] = field(default_factory=list)

    async def complete(self, prompt: Any, *, max_tokens: int = 64, temperature: float = 0.0, **extra: Any) -> Result:
        assert temperature == 0.0
        if extra.get("logprobs"):  # one token per character, each with log p = -0.5
            return Result(self.reply, tokens=list(self.reply), token_logprobs=[-0.5] * len(self.reply))
        return Result(self.reply)

    async def continuation_logprobs(self, context: Any, continuation: Any) -> Score:
        self.scored.append((list(context), list(continuation)))
        return Score(perplexity=1.5)


def example() -> Any:
    sample = Sample(id="s1", tools=[TOOL], context=[Message(role=Role.USER, content="add 2")], label_calls=LABEL)
    return build_example(sample, None, max_prompt_tokens=1024)


def run(reply: str, mode: str = "label") -> tuple[ProbeRecord, FakeClient]:
    client = FakeClient(reply)
    tools = ProbeTools(client=client, tokenizer=CharTokenizer(), settings=ProbeSettings(perplexity_of=mode))  # type: ignore[arg-type]
    return asyncio.run(probe_example(example(), tools)), client


def test_mastered_sample_gets_the_label_perplexity() -> None:
    record, client = run(render_hermes(LABEL))
    assert record.matched and record.predicted_calls == LABEL
    assert record.perplexity == 1.5 and record.perplexity_of == "label"
    (context, continuation), = client.scored
    assert "".join(map(chr, continuation)) == render_hermes(LABEL)


def test_mismatch_keeps_the_prediction_and_its_label_perplexity() -> None:
    wrong = [ToolCall(name="add", arguments={"a": 3})]
    record, client = run(render_hermes(wrong))
    assert not record.matched and record.predicted_calls == wrong
    assert record.perplexity == 1.5 and len(client.scored) == 1  # BOTH_CORRECT verdicts are kept by it


def test_greedy_mode_scores_a_mismatch_without_a_second_request() -> None:
    record, client = run(render_hermes([ToolCall(name="add", arguments={"a": 3})]), mode="greedy")
    assert record.perplexity is None and client.scored == []


def test_unparseable_output_is_a_mismatch_with_the_reason() -> None:
    record, _ = run("<tool_call>{not json</tool_call>")
    assert not record.matched and record.parse_error


def test_greedy_perplexity_comes_from_the_same_request_and_skips_the_think_block() -> None:
    reply = "<think>hmm</think>\n" + render_hermes(LABEL)
    record, client = run(reply, mode="greedy")
    assert record.matched and record.perplexity_of == "greedy" and client.scored == []
    assert record.perplexity == pytest.approx(math.exp(0.5))
    assert greedy_perplexity(["<think>", "x", "</think>", "a"], [-9.0, -9.0, -9.0, -1.0]) == pytest.approx(math.e)
    assert greedy_perplexity([], []) is None


def test_high_ppl_selection_by_fraction_and_threshold() -> None:
    records = [ProbeRecord(sample_id=f"s{i}", completion="", matched=True, perplexity=float(i)) for i in range(1, 11)]
    records.append(ProbeRecord(sample_id="miss", completion="", matched=False))
    records.append(ProbeRecord(sample_id="nan", completion="", matched=True, perplexity=math.nan))
    assert select_high_ppl(records, ProbeSettings(high_ppl_top_fraction=0.2)) == ["s10", "s9"]
    assert select_high_ppl(records, ProbeSettings(high_ppl_threshold=8.5)) == ["s9", "s10"]
    assert select_high_ppl(records, ProbeSettings(high_ppl_top_fraction=None)) == []


def test_probe_samples_journals_and_resumes(tmp_path: Any) -> None:
    from looptool.loop.probe import probe_samples

    samples = [Sample(id=f"s{i}", tools=[TOOL], context=[Message(role=Role.USER, content=f"add {i}")],
                      label_calls=[ToolCall(name="add", arguments={"a": 2})]) for i in range(4)]
    examples = [build_example(s, None, max_prompt_tokens=1024) for s in samples]
    client = FakeClient(render_hermes(LABEL))
    calls: list[int] = []
    original = client.complete

    async def counting(*args: Any, **kwargs: Any) -> Result:
        calls.append(1)
        return await original(*args, **kwargs)

    client.complete = counting  # type: ignore[method-assign]
    tools = ProbeTools(client=client, tokenizer=CharTokenizer(), settings=ProbeSettings(concurrency=2))  # type: ignore[arg-type]
    journal = tmp_path / "probe.journal.jsonl"
    records, summary = asyncio.run(probe_samples(examples[:2], tools, journal=journal, progress=False))
    assert [r.sample_id for r in records] == ["s0", "s1"] and summary.mastered == 2
    records, summary = asyncio.run(probe_samples(examples, tools, journal=journal, progress=False))
    assert [r.sample_id for r in records] == ["s0", "s1", "s2", "s3"]
    assert summary.probed == 4 and summary.accuracy == 1.0 and len(calls) == 4  # no finished item re-sent


def test_benchmark_scores_of_a_slice_are_the_entry_weighted_mean() -> None:
    from looptool.benchmarks.base import BenchmarkSummary, SummaryRow
    from looptool.loop.evaluation import summary_scores

    rows = [SummaryRow(name="simple", kind="category", score=0.0, count=2),
            SummaryRow(name="irrelevance", kind="category", score=1.0, count=6)]
    assert summary_scores("bfcl_v3", BenchmarkSummary(benchmark="bfcl_v3", rows=rows)) == {
        "bfcl_v3/simple": 0.0, "bfcl_v3/irrelevance": 1.0, "bfcl_v3": 0.75}
    rows.append(SummaryRow(name="overall", kind="overall", score=0.5))
    assert summary_scores("bfcl_v3", BenchmarkSummary(benchmark="bfcl_v3", rows=rows))["bfcl_v3"] == 0.5
