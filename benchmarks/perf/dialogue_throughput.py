"""Dialogue-simulation throughput against a served model, beside the server's raw throughput.

For each concurrency level (dialogues in flight) it

1. simulates a fixed number of dialogues through the real pipeline (dialogue graph, tool
   backends, rules, judge, traces, output files) and reports dialogues per minute and the
   tokens per second the pipeline's model calls got from the server;
2. drives the same server with the same number of raw chat requests in flight for a fixed time
   (the same max_tokens, ``ignore_eos`` so every request decodes the full budget) and reports
   its completion tokens per second;
3. prints the ratio pipeline / raw (target: at least 0.8, i.e. the pipeline keeps the server
   at least 80% as busy as a raw load of the same concurrency).

Usage (the shared development server; keep runs short on shared machines)::

    .venv/bin/python benchmarks/perf/dialogue_throughput.py --base-url http://127.0.0.1:8765/v1 \\
        --levels 1 8 32 --dialogues 2 8 32 --max-tokens 96 --raw-seconds 30 --out /tmp/dt.json

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
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

import agents.backends.settings  # noqa: F401  (registers the tools section)
from agents.usage import UsageRecorder
from graphs.dialogue.config import DialogueSynthSettings
from graphs.dialogue.run import DialogueRunner, build_run_models, run_dialogues
from graphs.dialogue.tools import backend_tool_specs
from looptool.config import load_config
from looptool.logs import console, setup_logging
from looptool.traces import TraceStore

log = logging.getLogger("benchmarks.dialogue_throughput")

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
    pipeline_completion_tok_s: float
    pipeline_total_tok_s: float
    pipeline_server_gen_tok_s: float | None
    raw_s: float
    raw_requests: int
    raw_completion_tok_s: float
    raw_server_gen_tok_s: float | None
    busy_ratio: float


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


async def raw_load(base_url: str, model: str, concurrency: int, seconds: float, max_tokens: int) -> tuple[int, int, float]:
    """``concurrency`` workers sending chat completions for ``seconds``; returns
    (requests, completion tokens, elapsed)."""
    deadline = time.perf_counter() + seconds
    totals = {"requests": 0, "tokens": 0}
    payload = {
        "model": model,
        "messages": [{"role": "user", "content": RAW_PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0.7,
        "ignore_eos": True,
    }

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            response = await client.post(base_url + "/chat/completions", json=payload)
            response.raise_for_status()
            totals["requests"] += 1
            totals["tokens"] += int(response.json()["usage"]["completion_tokens"])

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=600) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return totals["requests"], totals["tokens"], time.perf_counter() - started


async def pipeline(args: argparse.Namespace, concurrency: int, dialogues: int, run_dir: Path) -> tuple[Any, UsageRecorder, float]:
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
    started = time.perf_counter()
    try:
        report = await run_dialogues(runner, dialogues, concurrency=concurrency, progress=True)
    finally:
        traces.close()
    return report, usage, time.perf_counter() - started


async def measure(args: argparse.Namespace) -> list[LevelResult]:
    root_url = args.base_url.removesuffix("/v1")
    results: list[LevelResult] = []
    for concurrency, dialogues in zip(args.levels, args.dialogues, strict=True):
        with tempfile.TemporaryDirectory(prefix=f"dt-{concurrency}-") as folder:
            before = await _server_generated(root_url)
            report, usage, pipeline_s = await pipeline(args, concurrency, dialogues, Path(folder))
            after = await _server_generated(root_url)
        summary = usage.summary()
        console.print(f"[bold]c={concurrency}[/bold] pipeline: {report.describe()}")
        raw_before = await _server_generated(root_url)
        requests, raw_tokens, raw_s = await raw_load(args.base_url, args.model, concurrency,
                                                     args.raw_seconds, args.max_tokens)
        raw_after = await _server_generated(root_url)
        pipeline_tok_s = summary.total_completion_tokens / pipeline_s
        raw_tok_s = raw_tokens / raw_s
        result = LevelResult(
            concurrency=concurrency,
            dialogues=dialogues,
            accepted=report.accepted,
            rejected=report.rejected,
            failed=report.failed,
            pipeline_s=round(pipeline_s, 1),
            dialogues_per_min=round(60.0 * (report.accepted + report.rejected) / pipeline_s, 2),
            pipeline_completion_tok_s=round(pipeline_tok_s, 1),
            pipeline_total_tok_s=round((summary.total_completion_tokens + summary.total_prompt_tokens) / pipeline_s, 1),
            pipeline_server_gen_tok_s=_rate(after, before, pipeline_s),
            raw_s=round(raw_s, 1),
            raw_requests=requests,
            raw_completion_tok_s=round(raw_tok_s, 1),
            raw_server_gen_tok_s=_rate(raw_after, raw_before, raw_s),
            busy_ratio=round(pipeline_tok_s / raw_tok_s, 3) if raw_tok_s else 0.0,
        )
        console.print(result.model_dump())
        results.append(result)
    return results


def _table(results: list[LevelResult]) -> str:
    lines = [
        "| in flight | dialogues | dialogues/min | pipeline gen tok/s | raw gen tok/s | pipeline/raw |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for item in results:
        lines.append(
            f"| {item.concurrency} | {item.dialogues} ({item.accepted} accepted) | "
            f"{item.dialogues_per_min} | {item.pipeline_completion_tok_s} | "
            f"{item.raw_completion_tok_s} | {item.busy_ratio:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8765/v1")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--dialogues", type=int, nargs="+", default=[2, 8, 32],
                        help="dialogues simulated per level (one number per level)")
    parser.add_argument("--max-tokens", type=int, default=96, help="max_tokens of every model call")
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
