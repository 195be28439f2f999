"""Throughput of the embedded model: vLLM (through ``VllmServer``, what ``looptool serve``
runs) at 1, 8 and 32 requests in flight, beside transformers ``generate`` one request at a
time, in one run. Every completion is exactly ``--max-tokens`` tokens (``ignore_eos``).

    .venv/bin/python perf/serve_throughput.py --modes eager compiled \\
        --out runs/perf/serve_throughput.json

``eager`` starts vLLM with ``--enforce-eager`` (fast start-up), ``compiled`` without it
(torch.compile warm-up at start, faster decoding). Nothing else should run on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from looptool.embedded import resolve_model_path
from looptool.jsonl import write_json_atomic
from looptool.logs import console, setup_logging
from looptool.serve import VllmServer, free_port

log = logging.getLogger("serve_throughput")

TOPICS = [
    "a lighthouse keeper", "a lost robot", "the first snow", "a busy market", "an old map",
    "a quiet library", "a river at night", "a broken clock", "a mountain village", "a paper boat",
    "a desert caravan", "a tiny dragon", "a forgotten song", "a city garden", "a winter train",
    "a curious cat",
]


def prompt(index: int) -> str:
    return f"Write a short story about {TOPICS[index % len(TOPICS)]} (variant {index})."


class LevelResult(BaseModel):
    engine: str
    mode: str
    in_flight: int
    requests: int
    completion_tokens: int
    wall_s: float
    tokens_per_s: float
    mean_latency_s: float


class ModeResult(BaseModel):
    mode: str
    startup_s: float
    levels: list[LevelResult]


class BenchmarkResult(BaseModel):
    machine: dict[str, str | int | float]
    model: str
    max_tokens: int
    generate: LevelResult
    vllm: list[ModeResult]
    speedup_at_max_in_flight: dict[str, float]
    started: str
    total_s: float
    load_avg_1min_at_end: float


def machine_info() -> dict[str, str | int | float]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = 0.0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else -1.0
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "load_avg_1min_at_start": round(load, 2),
    }


# --- vLLM ---------------------------------------------------------------------------------


async def _one(client: httpx.AsyncClient, server: VllmServer, index: int, max_tokens: int) -> tuple[int, float]:
    started = time.perf_counter()
    response = await client.post(
        server.base_url + "/chat/completions",
        json={
            "model": server.model,
            "messages": [{"role": "user", "content": prompt(index)}],
            "max_tokens": max_tokens,
            "min_tokens": max_tokens,
            "ignore_eos": True,
            "temperature": 0.8,
            "seed": index,
        },
    )
    response.raise_for_status()
    return int(response.json()["usage"]["completion_tokens"]), time.perf_counter() - started


async def run_level(server: VllmServer, mode: str, in_flight: int, requests: int, max_tokens: int, progress: Progress) -> LevelResult:
    task = progress.add_task(f"vLLM {mode}, {in_flight} in flight", total=requests)
    gate = asyncio.Semaphore(in_flight)
    limits = httpx.Limits(max_connections=in_flight + 4, max_keepalive_connections=in_flight + 4)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:

        async def guarded(index: int) -> tuple[int, float]:
            async with gate:
                result = await _one(client, server, index, max_tokens)
            progress.advance(task)
            return result

        started = time.perf_counter()
        results = await asyncio.gather(*[guarded(index) for index in range(requests)])
        wall = time.perf_counter() - started
    tokens = sum(count for count, _ in results)
    return LevelResult(
        engine="vllm", mode=mode, in_flight=in_flight, requests=requests, completion_tokens=tokens,
        wall_s=round(wall, 3), tokens_per_s=round(tokens / wall, 2),
        mean_latency_s=round(sum(latency for _, latency in results) / len(results), 3),
    )


def bench_vllm(model_dir: Path, mode: str, levels: list[int], requests_per_level: dict[int, int], max_tokens: int, log_dir: Path) -> ModeResult:
    server = VllmServer(
        model_path=model_dir, served_name="smollm2", port=free_port(), device="cpu",
        enforce_eager=(mode == "eager"), log_path=log_dir / f"vllm-{mode}.log", startup_timeout_s=900,
    )
    started = time.perf_counter()
    with server:
        startup = time.perf_counter() - started
        log.info("vLLM %s ready after %.0f s", mode, startup)
        asyncio.run(_warm_up(server, max_tokens))
        results: list[LevelResult] = []
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as progress:
            for level in levels:
                result = asyncio.run(run_level(server, mode, level, requests_per_level[level], max_tokens, progress))
                log.info("vLLM %s: %d in flight -> %.1f tok/s", mode, level, result.tokens_per_s)
                results.append(result)
    return ModeResult(mode=mode, startup_s=round(startup, 1), levels=results)


async def _warm_up(server: VllmServer, max_tokens: int) -> None:
    async with httpx.AsyncClient(timeout=600) as client:
        await asyncio.gather(*[_one(client, server, index, max_tokens) for index in range(2)])


# --- transformers generate ------------------------------------------------------------------


def bench_generate(model_dir: Path, requests: int, max_tokens: int, pin_core: int | None = None) -> LevelResult:
    import torch

    affinity = os.sched_getaffinity(0)
    threads = torch.get_num_threads()
    if pin_core is not None:
        os.sched_setaffinity(0, {pin_core})
        torch.set_num_threads(1)
    try:
        return _bench_generate(model_dir, requests, max_tokens)
    finally:
        os.sched_setaffinity(0, affinity)
        torch.set_num_threads(threads)


def _bench_generate(model_dir: Path, requests: int, max_tokens: int) -> LevelResult:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()

    def generate(index: int) -> tuple[int, float]:
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt(index)}], add_generation_prompt=True, tokenize=False)
        inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        started = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(
                **inputs, max_new_tokens=max_tokens, min_new_tokens=max_tokens, do_sample=True,
                temperature=0.8, pad_token_id=tokenizer.pad_token_id,
            )
        return int(output.shape[1] - inputs["input_ids"].shape[1]), time.perf_counter() - started

    generate(0)  # warm-up
    results: list[tuple[int, float]] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("transformers generate, 1 at a time", total=requests)
        started = time.perf_counter()
        for index in range(requests):
            results.append(generate(index))
            progress.advance(task)
        wall = time.perf_counter() - started
    tokens = sum(count for count, _ in results)
    result = LevelResult(
        engine="transformers", mode=f"generate fp32, {torch.get_num_threads()} thread(s)", in_flight=1, requests=requests, completion_tokens=tokens,
        wall_s=round(wall, 3), tokens_per_s=round(tokens / wall, 2),
        mean_latency_s=round(sum(latency for _, latency in results) / len(results), 3),
    )
    log.info("transformers generate: %.1f tok/s", result.tokens_per_s)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded", help="model folder or 'embedded'")
    parser.add_argument("--modes", nargs="+", choices=["eager", "compiled"], default=["eager"])
    parser.add_argument("--in-flight", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="requests per level = rounds x in-flight (at least --min-requests)")
    parser.add_argument("--min-requests", type=int, default=6)
    parser.add_argument("--generate-requests", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("runs/perf/serve_throughput.json"))
    parser.add_argument(
        "--pin-core", type=int, default=None,
        help="run both engines on this one core (generate: 1 torch thread; vLLM: "
        "VLLM_CPU_OMP_THREADS_BIND) for a like-for-like comparison on a shared machine",
    )
    args = parser.parse_args(argv)
    setup_logging("INFO")
    if args.pin_core is not None:
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = str(args.pin_core)

    began = time.perf_counter()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    machine = machine_info()
    machine["pinned_core"] = -1 if args.pin_core is None else args.pin_core
    machine["vllm_omp_threads_bind"] = os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "auto")
    model_dir = resolve_model_path(args.model)
    requests = {level: max(args.min_requests, args.rounds * level) for level in args.in_flight}
    args.out.parent.mkdir(parents=True, exist_ok=True)

    generate = bench_generate(model_dir, args.generate_requests, args.max_tokens, pin_core=args.pin_core)
    modes = [bench_vllm(model_dir, mode, args.in_flight, requests, args.max_tokens, args.out.parent) for mode in args.modes]
    top = max(args.in_flight)
    speedups = {
        mode.mode: round(next(level.tokens_per_s for level in mode.levels if level.in_flight == top) / generate.tokens_per_s, 2)
        for mode in modes
    }
    result = BenchmarkResult(
        machine=machine, model=str(model_dir), max_tokens=args.max_tokens, generate=generate, vllm=modes,
        speedup_at_max_in_flight=speedups, started=started_at, total_s=round(time.perf_counter() - began, 1),
        load_avg_1min_at_end=round(os.getloadavg()[0], 2),
    )
    write_json_atomic(args.out, result.model_dump(mode="json"))
    log.info("wrote %s", args.out)
    console.print_json(json.dumps({"generate_tok_s": generate.tokens_per_s, "speedup_vs_generate": speedups,
                                    "vllm_tok_s": {m.mode: {lvl.in_flight: lvl.tokens_per_s for lvl in m.levels} for m in modes}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
