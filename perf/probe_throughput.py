"""GCP probing throughput: vLLM (the loop's path) vs transformers, same samples, same run.

Both sides probe the same seed samples with the same prompts (``training.examples``): a greedy
completion of ``--max-tokens`` tokens and the label's perplexity. vLLM: the loop's own
``probe_samples`` against a fresh vLLM CPU server (``--concurrency`` in flight).
transformers: ``generate`` one batch at a time plus one forward pass for the label PPL, as a
plain script would. Also times a LoRA adapter hot-load against a server restart when
``--adapter`` is given. Reports samples/s and the ratio.

    .venv/bin/python perf/probe_throughput.py --samples 32 --out runs/perf/probe_throughput.json \
        [--adapter runs/<run>/loop/iter_1/train/adapter]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from looptool.config import RoleSettings, ServeSettings
from looptool.embedded import ensure_embedded_model
from looptool.jsonl import write_json_atomic
from looptool.logs import setup_logging
from looptool.loop.probe import ProbeSettings, ProbeTools, probe_samples, prompt_ids
from looptool.loop.seed.build import build_seed_set
from looptool.loop.seed.settings import SeedSettings
from looptool.loop.serving import PolicyServer
from looptool.training.examples import build_examples
from looptool.training.model import load_tokenizer

log = logging.getLogger("perf.probe_throughput")


def transformers_probe(model_dir: Path, examples: list[Any], tokenizer: Any, max_tokens: int, batch: int) -> float:
    """Seconds for greedy generate + a label-PPL forward pass over every example."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    tokenizer.padding_side = "left"
    started = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(examples), batch):
            chunk = examples[start:start + batch]
            prompts = [prompt_ids(tokenizer, example) for example in chunk]
            width = max(len(ids) for ids in prompts)
            pad = tokenizer.pad_token_id or 0
            input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in prompts])
            mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts])
            model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=max_tokens, do_sample=False,
                           pad_token_id=pad)
            for example, ids in zip(chunk, prompts, strict=True):
                label = tokenizer.encode(example.label_completion(), add_special_tokens=False)
                full = torch.tensor([ids + label])
                logits = model(full).logits[0, len(ids) - 1:-1]
                logprobs = torch.log_softmax(logits.float(), dim=-1)
                picked = logprobs[torch.arange(len(label)), torch.tensor(label)]
                math.exp(-float(picked.mean()))
    return time.perf_counter() - started


async def vllm_probe(server: PolicyServer, model_dir: Path, examples: list[Any], tokenizer: Any,
                     settings: ProbeSettings) -> float:
    from looptool.completions import OpenAICompatClient

    served = server.policy(model_dir)
    client = OpenAICompatClient.for_role(RoleSettings(base_urls=[served.base_url], model=served.model), "policy")
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        _, summary = await probe_samples(examples, ProbeTools(client, tokenizer, settings),
                                         journal=Path(folder) / "probe.jsonl", progress=False)
        seconds = time.perf_counter() - started
    await client.aclose()
    if summary.failed:
        raise RuntimeError(f"{summary.failed} probe requests failed: {summary.failures[:3]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8, help="transformers generate batch size")
    parser.add_argument("--adapter", help="a LoRA adapter folder trained on the embedded model: time hot-load vs restart")
    parser.add_argument("--port", type=int, default=8795)
    parser.add_argument("--compile", action="store_true",
                        help="let vLLM compile (no --enforce-eager): slower start, faster decoding")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    setup_logging("INFO")
    model_dir = ensure_embedded_model()
    tokenizer = load_tokenizer(model_dir)
    samples = build_seed_set(SeedSettings()).train[: args.samples]
    examples = build_examples(samples, tokenizer, max_prompt_tokens=1024).examples
    settings = ProbeSettings(max_tokens=args.max_tokens, concurrency=args.concurrency, perplexity_of="label")
    result: dict[str, Any] = {"samples": len(examples), "max_tokens": args.max_tokens,
                              "concurrency": args.concurrency, "transformers_batch": args.batch}
    serve = ServeSettings(port=args.port, device="cpu", enforce_eager=not args.compile)
    result["enforce_eager"] = serve.enforce_eager
    result["vllm_cpu_reserved"] = os.environ.get("VLLM_CPU_NUM_OF_RESERVED_CPU", "vLLM default")
    with tempfile.TemporaryDirectory() as logs, PolicyServer(serve, served_name="smollm2", log_dir=Path(logs)) as server:
        vllm_s = asyncio.run(vllm_probe(server, model_dir, examples, tokenizer, settings))
        result["vllm_s"] = round(vllm_s, 2)
        result["server_start_s"] = round(server.times.starts[0], 2)
        if args.adapter:
            server.policy(model_dir, args.adapter, name="policy")  # restarts with LoRA enabled, then loads
            result["lora_server_start_s"] = round(server.times.starts[-1], 2)
            result["adapter_load_s"] = round(server.times.adapter_loads[-1], 3)
    transformers_s = transformers_probe(model_dir, examples, tokenizer, args.max_tokens, args.batch)
    result["transformers_s"] = round(transformers_s, 2)
    result["vllm_samples_per_s"] = round(len(examples) / vllm_s, 3)
    result["transformers_samples_per_s"] = round(len(examples) / transformers_s, 3)
    result["speedup"] = round(transformers_s / vllm_s, 2)
    write_json_atomic(args.out, result)
    log.info("%s", json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
