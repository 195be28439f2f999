"""Dialogue-simulation throughput against a served model, beside the server's raw throughput.

For each concurrency level (dialogues in flight) it

1. simulates a fixed number of dialogues through the real pipeline (dialogue graph, tool
   backends, rules, judge, traces, output files) and reports dialogues per minute and the
   tokens per second the pipeline's model calls got from the server;
2. drives the same server with the same number of raw chat requests in flight for a fixed time,
   each shaped like the pipeline's average call (a filler prompt of the pipeline's mean prompt
   length, ``ignore_eos`` and ``max_tokens`` = its mean completion length), and reports the
   tokens per second the server processed (prompt + completion, and completion alone);
3. prints the ratio pipeline / raw of prompt + completion tokens per second (target: at least
   0.8, i.e. the pipeline keeps the server at least 80% as busy as a raw load of the same
   concurrency and request shape), over the whole run and over the *steady state* (from the
   start until the last dialogue was handed to a worker, so the tail where fewer than N
   dialogues remain is left out; needs more dialogues than the level).

Usage (the shared development server; keep runs short on shared machines)::

    .venv/bin/python perf/dialogue_throughput.py --base-url http://127.0.0.1:8765/v1 \\
        --levels 1 8 32 --dialogues 2 16 48 --max-tokens 192 --raw-seconds 30 --out /tmp/dt.json

Tokens are counted on the client (the ``usage`` of every response). The server's own
``vllm:generation_tokens_total`` counter (``/metrics``) is sampled too: it includes any other
load on a shared server, so a raw-vs-pipeline gap there is only meaningful on an idle one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import BaseModel

import looptool.agents.backends.settings  # noqa: F401  (registers the tools section)
from looptool.config import load_config
from looptool.graphs.dialogue.config import DialogueSynthSettings
from looptool.graphs.dialogue.run import (
    DialogueRunner,
    SynthesisReport,
    build_run_models,
    run_dialogues,
)
from looptool.graphs.dialogue.tools import backend_tool_specs
from looptool.logs import console, setup_logging
from looptool.traces import TraceStore
from looptool.usage import UsageRecorder

log = logging.getLogger("dialogue_throughput")

RAW_PROMPT = (
    "You are a helpful assistant. Explain, step by step and in detail, how to plan a "
    "three-day trip to a city you like: transport, hotels, food, museums and a budget."
)


class LevelResult(BaseModel):
    """Numbers of one concurrency level."""

    concurrency: int
    dialogues: int
    accepted: int
    rejected: int
    failed: int
    pipeline_s: float
    dialogues_per_min: float
    calls: int
    mean_prompt_tokens: float
    mean_completion_tokens: float
    pipeline_completion_tok_s: float
    pipeline_total_tok_s: float
    pipeline_steady_total_tok_s: float | None
    pipeline_server_gen_tok_s: float | None
    raw_s: float
    raw_requests: int
    raw_completion_tok_s: float
    raw_total_tok_s: float
    raw_server_gen_tok_s: float | None
    mean_in_flight: float  # model calls in flight on average (sum of call latencies / wall time)
    busy_ratio: float  # pipeline / raw, prompt + completion tokens per second, whole run
    steady_busy_ratio: float | None  # the same while every worker had a dialogue


async def _server_generated(root_url: str) -> float | None:
    """``vllm:generation_tokens_total`` summed over engines, or None without /metrics."""
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            text = (await client.get(root_url + "/metrics")).text
    except httpx.HTTPError:
        return None
    values = re.findall(r"^vllm:generation_tokens_total\{[^}]*\}\s+([0-9.e+]+)$", text, re.MULTILINE)
    return sum(float(value) for value in values) if values else None


def _rate(after: float | None, before: float | None, seconds: float) -> float | None:
    if after is None or before is None or seconds <= 0:
        return None
    return round((after - before) / seconds, 1)


async def shaped_prompt(base_url: str, model: str, prompt_tokens: int) -> str:
    """Filler text of about ``prompt_tokens`` tokens (chat template included)."""
    root = base_url.removesuffix("/v1")
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(root + "/tokenize", json={"model": model, "prompt": RAW_PROMPT})
        per_copy = max(1, len(response.json()["tokens"]))
    copies = max(1, round((prompt_tokens - 20) / per_copy))
    return " ".join([RAW_PROMPT] * copies)


class RawResult(BaseModel):
    requests: int
    prompt_tokens: int
    completion_tokens: int
    elapsed_s: float


async def raw_load(base_url: str, model: str, concurrency: int, seconds: float, max_tokens: int,
                   prompt: str = RAW_PROMPT) -> RawResult:
    """``concurrency`` workers sending chat completions (exactly ``max_tokens`` each) for
    ``seconds``."""
    deadline = time.perf_counter() + seconds
    totals = {"requests": 0, "tokens": 0, "prompt": 0}
    payload = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max(1, max_tokens),
        "temperature": 0.7,
        "ignore_eos": True,
    }

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            # a unique first line per request, so vLLM's prefix cache cannot skip the prefill
            unique = {**payload, "messages": [{"role": "user", "content": f"[{uuid.uuid4()}]\n{prompt}"}]}
            response = await client.post(base_url + "/chat/completions", json=unique)
            response.raise_for_status()
            usage = response.json()["usage"]
            totals["requests"] += 1
            totals["tokens"] += int(usage["completion_tokens"])
            totals["prompt"] += int(usage["prompt_tokens"])

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=600) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return RawResult(requests=totals["requests"], prompt_tokens=totals["prompt"],
                     completion_tokens=totals["tokens"], elapsed_s=time.perf_counter() - started)


@dataclass
class PipelineRun:
    report: SynthesisReport
    usage: UsageRecorder
    elapsed_s: float
    started: float  # wall clock
    drained: float  # wall clock when the last dialogue started (all workers busy until then)


async def pipeline(args: argparse.Namespace, concurrency: int, dialogues: int, run_dir: Path) -> PipelineRun:
    overrides = [f"run.seed={args.seed}"]
    for role in ("generator", "judge", "user_sim", "policy"):
        overrides += [f"roles.{role}.base_urls=[{args.base_url}]", f"roles.{role}.model={args.model}",
                      f"roles.{role}.sampling.max_tokens={args.max_tokens}"]
    overrides += [
        "dialogue_synth.tools_offered={min: 1, max: 3}",
        "dialogue_synth.turns={min: 1, max: 1}",
        f"dialogue_synth.max_assistant_steps={args.max_steps}",
    ]
    config = load_config(None, overrides)
    settings = config.section("dialogue_synth", DialogueSynthSettings)
    usage = UsageRecorder()
    models = build_run_models(config, settings, usage=usage)
    traces = TraceStore.for_run(run_dir)
    runner = DialogueRunner(settings, run_dir, backend_tool_specs(), models, seed=args.seed, traces=traces)
    started, wall = time.perf_counter(), time.time()
    try:
        report = await run_dialogues(runner, dialogues, concurrency=concurrency, progress=True)
        drained = max(info.started_at for info in traces.traces())
    finally:
        traces.close()
    return PipelineRun(report=report, usage=usage, elapsed_s=time.perf_counter() - started,
                       started=wall, drained=drained)


def _window_tokens(usage: UsageRecorder, start: float, end: float) -> tuple[float, float]:
    """Prompt and completion tokens of calls that ended in [start, end], prorated by overlap
    for calls that started before ``start``."""
    prompt = completion = 0.0
    for record in usage.records():
        begin = record.time - record.latency_s
        if record.time < start or begin > end:
            continue
        overlap = min(record.time, end) - max(begin, start)
        share = 1.0 if record.latency_s <= 0 else max(0.0, min(1.0, overlap / record.latency_s))
        prompt += record.prompt_tokens * share
        completion += record.completion_tokens * share
    return prompt, completion


async def measure(args: argparse.Namespace) -> list[LevelResult]:
    root_url = args.base_url.removesuffix("/v1")
    results: list[LevelResult] = []
    for concurrency, dialogues in zip(args.levels, args.dialogues, strict=True):
        with tempfile.TemporaryDirectory(prefix=f"dt-{concurrency}-") as folder:
            before = await _server_generated(root_url)
            run = await pipeline(args, concurrency, dialogues, Path(folder))
            after = await _server_generated(root_url)
        report, summary = run.report, run.usage.summary()
        console.print(f"[bold]c={concurrency}[/bold] pipeline: {report.describe()}")
        calls = max(1, summary.total_calls)
        mean_prompt = summary.total_prompt_tokens / calls
        mean_completion = summary.total_completion_tokens / calls
        prompt = await shaped_prompt(args.base_url, args.model, int(mean_prompt))
        raw_before = await _server_generated(root_url)
        raw = await raw_load(args.base_url, args.model, concurrency, args.raw_seconds,
                             max(1, round(mean_completion)), prompt)
        raw_after = await _server_generated(root_url)
        pipeline_tok_s = summary.total_completion_tokens / run.elapsed_s
        pipeline_all_tok_s = (summary.total_completion_tokens + summary.total_prompt_tokens) / run.elapsed_s
        raw_tok_s = raw.completion_tokens / raw.elapsed_s
        raw_all_tok_s = (raw.completion_tokens + raw.prompt_tokens) / raw.elapsed_s
        window = run.drained - run.started
        steady_all: float | None = None
        if window > 5.0:
            window_prompt, window_completion = _window_tokens(run.usage, run.started, run.drained)
            steady_all = (window_prompt + window_completion) / window
        result = LevelResult(
            concurrency=concurrency,
            dialogues=dialogues,
            accepted=report.accepted,
            rejected=report.rejected,
            failed=report.failed,
            pipeline_s=round(run.elapsed_s, 1),
            dialogues_per_min=round(60.0 * (report.accepted + report.rejected) / run.elapsed_s, 2),
            calls=summary.total_calls,
            mean_prompt_tokens=round(mean_prompt, 1),
            mean_completion_tokens=round(mean_completion, 1),
            pipeline_completion_tok_s=round(pipeline_tok_s, 1),
            pipeline_total_tok_s=round(pipeline_all_tok_s, 1),
            pipeline_steady_total_tok_s=None if steady_all is None else round(steady_all, 1),
            pipeline_server_gen_tok_s=_rate(after, before, run.elapsed_s),
            raw_s=round(raw.elapsed_s, 1),
            raw_requests=raw.requests,
            raw_completion_tok_s=round(raw_tok_s, 1),
            raw_total_tok_s=round(raw_all_tok_s, 1),
            raw_server_gen_tok_s=_rate(raw_after, raw_before, raw.elapsed_s),
            mean_in_flight=round(sum(r.latency_s for r in run.usage.records()) / run.elapsed_s, 2),
            busy_ratio=round(pipeline_all_tok_s / raw_all_tok_s, 3) if raw_all_tok_s else 0.0,
            steady_busy_ratio=None if steady_all is None or not raw_all_tok_s
            else round(steady_all / raw_all_tok_s, 3),
        )
        console.print(result.model_dump())
        results.append(result)
    return results


def _table(results: list[LevelResult]) -> str:
    lines = [
        "| in flight | dialogues | dialogues/min | model calls in flight (mean) | "
        "pipeline tok/s (prompt+gen; gen) | raw tok/s, same shape (prompt+gen; gen) | "
        "pipeline/raw | steady-state pipeline/raw |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for item in results:
        steady = "n/a" if item.steady_busy_ratio is None else f"{item.steady_busy_ratio:.2f}"
        lines.append(
            f"| {item.concurrency} | {item.dialogues} ({item.accepted} accepted) | "
            f"{item.dialogues_per_min} | {item.mean_in_flight} | "
            f"{item.pipeline_total_tok_s}; {item.pipeline_completion_tok_s} | "
            f"{item.raw_total_tok_s}; {item.raw_completion_tok_s} | {item.busy_ratio:.2f} | {steady} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8765/v1")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--dialogues", type=int, nargs="+", default=[2, 16, 48],
                        help="dialogues simulated per level (one number per level)")
    parser.add_argument("--max-tokens", type=int, default=192, help="max_tokens of every model call")
    parser.add_argument("--max-steps", type=int, default=2, help="dialogue_synth.max_assistant_steps")
    parser.add_argument("--raw-seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    if len(args.levels) != len(args.dialogues):
        parser.error("--levels and --dialogues need the same number of values")
    setup_logging("WARNING")
    results = asyncio.run(measure(args))
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"
    table = _table(results)
    console.print(f"machine: {machine}\n{table}")
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": machine, "args": vars(args),
                                              "results": [r.model_dump() for r in results]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
