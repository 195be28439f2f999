"""End-to-end BFCL ``simple`` evaluation of a served model at 1 vs N requests in flight.

Queries the endpoint through the same adapter and client ``looptool eval`` uses (prompt mode
by default) and reports entries/s of the query phase per concurrency, the completion
tokens/s, the accuracy, and the wall time of a complete ``looptool eval``-equivalent run
(data load + queries + official checker + reports) at the highest concurrency.

Usage (the shared development server by default)::

    .venv/bin/python perf/bfcl_e2e.py [--base-url http://127.0.0.1:8765/v1]
        [--model smollm2] [--concurrency 1 32] [--entries 8 64] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from bfcl_rescore import machine  # perf/ is on sys.path when this script runs

from looptool.benchmarks.base import EndpointMode, EntryOutput, EvalEntry, ModelEndpoint
from looptool.benchmarks.bfcl import BfclV3
from looptool.benchmarks.runner.chat import OpenAIChatModel
from looptool.benchmarks.runner.engine import plan_cells, run_plans
from looptool.benchmarks.runner.settings import EvalSettings
from looptool.config import SamplingSettings
from looptool.logs import setup_logging


async def query(bfcl: BfclV3, entries: list[EvalEntry], endpoint: ModelEndpoint) -> tuple[list[EntryOutput], float]:
    gate = asyncio.Semaphore(endpoint.concurrency)
    async with OpenAIChatModel(endpoint) as model:
        await model.check()

        async def one(entry: EvalEntry) -> EntryOutput:
            async with gate:
                return await bfcl.run_entry(entry, model)

        started = time.perf_counter()
        outputs = list(await asyncio.gather(*(one(entry) for entry in entries)))
        return outputs, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8765/v1")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--mode", default=EndpointMode.PROMPT_HERMES.value, choices=[m.value for m in EndpointMode])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--entries", type=int, nargs="+", default=[8, 64], help="entries per concurrency level")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    if len(args.entries) != len(args.concurrency):
        parser.error("--entries needs one count per --concurrency level")
    setup_logging("WARNING")
    bfcl = BfclV3()
    entries = bfcl.load(["simple"], max(args.entries))
    sampling = SamplingSettings(temperature=0.0, max_tokens=args.max_tokens, seed=0)
    levels = []
    for concurrency, count in zip(args.concurrency, args.entries, strict=True):
        endpoint = ModelEndpoint(base_url=args.base_url, model=args.model, mode=EndpointMode(args.mode),
                                 sampling=sampling, concurrency=concurrency, timeout_s=600)
        chosen = entries[:count]
        outputs, wall = asyncio.run(query(bfcl, chosen, endpoint))
        scores = bfcl.score_batch(chosen, outputs)
        tokens = sum(reply.completion_tokens for output in outputs for reply in output.replies)
        levels.append({
            "concurrency": concurrency,
            "entries": count,
            "query_wall_s": round(wall, 2),
            "entries_per_s": round(count / wall, 3),
            "completion_tokens_per_s": round(tokens / wall, 1),
            "mean_latency_s": round(sum(o.latency_s for o in outputs) / count, 2),
            "accuracy_pct": round(100 * sum(s.score for s in scores) / count, 1),
            "request_errors": sum(1 for o in outputs for r in o.replies if r.error),
        })
    settings = EvalSettings(categories={"bfcl_v3": ["simple"]}, limit=args.entries[-1])
    endpoint = ModelEndpoint(base_url=args.base_url, model=args.model, mode=EndpointMode(args.mode),
                             sampling=sampling, concurrency=args.concurrency[-1], timeout_s=600)
    started = time.perf_counter()
    asyncio.run(run_plans(plan_cells(settings, [endpoint]), Path(tempfile.mkdtemp(prefix="bfcl-e2e-"))))
    full_wall = time.perf_counter() - started
    report = {
        "endpoint": args.base_url, "model": args.model, "mode": args.mode, "max_tokens": args.max_tokens,
        "levels": levels,
        "full_eval_wall_s": round(full_wall, 2), "full_eval_entries": args.entries[-1],
        "full_eval_concurrency": args.concurrency[-1],
        "machine": machine(),
    }
    print(json.dumps(report, indent=2))  # noqa: T201 - the script's result
    return 0


if __name__ == "__main__":
    sys.exit(main())
