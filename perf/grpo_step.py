"""Seconds per GRPO step and peak memory: ``looptool train`` vs a plain TRL script.

Four variants, each in a fresh process (so peak RSS is its own): our trainer
(:func:`training.trainer.run_training`) and a plain ``GRPOTrainer`` script with the same
settings, data, seed and reward, for full fine-tuning and LoRA. The first step of each
run is warm-up and not counted. Default: the embedded SmolLM2-135M, 4 prompts x 4 rollouts,
64 new tokens, fp32 on CPU.

    .venv/bin/python perf/grpo_step.py --out runs/bench-grpo-step --steps 3

Environment overrides: GRPO_STEP_PROMPTS, GRPO_STEP_GENERATIONS, GRPO_STEP_TOKENS,
GRPO_STEP_THREADS (torch threads; 0 = torch's default).

Writes ``<out>/results.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

log = logging.getLogger("grpo_step")

VARIANTS = [("ours", "full"), ("plain", "full"), ("ours", "lora"), ("plain", "lora")]
PROMPTS_PER_STEP = int(os.environ.get("GRPO_STEP_PROMPTS", "4"))
GENERATIONS = int(os.environ.get("GRPO_STEP_GENERATIONS", "4"))
COMPLETION_TOKENS = int(os.environ.get("GRPO_STEP_TOKENS", "64"))
THREADS = int(os.environ.get("GRPO_STEP_THREADS", "0")) or None
LEARNING_RATE = 1e-5
LORA_R = 8
SEED = 0


class StepTimer(TrainerCallback):
    """Wall time and CPU time (user + system, all threads) of every optimizer step
    (generation + scoring + backward + update)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.cpu_times: list[float] = []
        self._started = 0.0
        self._cpu_started = 0.0

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._started = time.perf_counter()
        self._cpu_started = time.process_time()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.times.append(time.perf_counter() - self._started)
        self.cpu_times.append(time.process_time() - self._cpu_started)


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def write_data(folder: Path) -> Path:
    from grpo_reward_curve import TRAIN_CITIES, make_task_set  # perf/ is on sys.path

    from looptool.jsonl import write_jsonl

    data = folder / "samples.jsonl"
    write_jsonl(data, make_task_set(TRAIN_CITIES, 16, seed=1, prefix="train", demos=0))
    return data


def run_ours(model: str, mode: str, data: Path, out: Path, steps: int, timer: StepTimer) -> None:
    from looptool.training.settings import LoraSettings, TrainSettings
    from looptool.training.trainer import TrainJob, run_training

    settings = TrainSettings(
        mode=mode,  # type: ignore[arg-type]
        lora=LoraSettings(r=LORA_R, alpha=2 * LORA_R),
        num_generations=GENERATIONS,
        prompts_per_step=PROMPTS_PER_STEP,
        max_completion_tokens=COMPLETION_TOKENS,
        learning_rate=LEARNING_RATE,
        max_steps=steps,
        holdout_fraction=0.0,
        save_steps=10_000,
        save_final_model=False,
        device="cpu",
        threads=THREADS,
    )
    run_training(TrainJob(data=data, out=out, settings=settings, model=model, seed=SEED, callbacks=[timer]))


def run_plain(model: str, mode: str, data: Path, out: Path, steps: int, timer: StepTimer) -> None:
    """What a user would write with TRL alone (same rows, reward, seed and settings)."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from looptool.jsonl import read_jsonl
    from looptool.schema import Sample
    from looptool.training.examples import build_example
    from looptool.training.rewards import tool_match

    if THREADS:
        import torch

        torch.set_num_threads(THREADS)
    samples = read_jsonl(data, Sample)
    rows = [build_example(sample, None, max_prompt_tokens=10**9).to_row() for sample in samples]
    tokenizer = AutoTokenizer.from_pretrained(model, padding_side="left")
    config = GRPOConfig(
        output_dir=str(out),
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        model_init_kwargs={"dtype": "float32"},
        per_device_train_batch_size=PROMPTS_PER_STEP * GENERATIONS,
        gradient_accumulation_steps=1,
        num_generations=GENERATIONS,
        max_completion_length=COMPLETION_TOKENS,
        learning_rate=LEARNING_RATE,
        epsilon=0.2,
        epsilon_high=0.28,
        beta=0.0,
        max_steps=steps,
        num_train_epochs=2,
        seed=SEED,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
    )
    peft = (
        LoraConfig(r=LORA_R, lora_alpha=2 * LORA_R, target_modules="all-linear", task_type="CAUSAL_LM")
        if mode == "lora"
        else None
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=list[Any]([tool_match]),
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft,
        callbacks=[timer],
    )
    trainer.train()


def worker(args: argparse.Namespace) -> int:
    from looptool.training.model import resolve_model_path

    model = str(resolve_model_path(args.model))
    out = Path(args.out) / f"{args.impl}-{args.mode}"
    out.mkdir(parents=True, exist_ok=True)
    data = write_data(out)
    timer = StepTimer()
    started = time.perf_counter()
    runner = run_ours if args.impl == "ours" else run_plain
    runner(model, args.mode, data, out / "run", args.steps, timer)
    counted = timer.times[1:] or timer.times
    result = {
        "impl": args.impl,
        "mode": args.mode,
        "step_seconds": timer.times,
        "mean_step_s": sum(counted) / len(counted),
        "process_wall_s": time.perf_counter() - started,
        "peak_rss_gib": peak_rss_bytes() / 2**30,
    }
    Path(args.result).write_text(json.dumps(result))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/bench-grpo-step")
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--steps", type=int, default=3, help="steps per variant (the first is warm-up)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=["ours", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["full", "lora"], help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.worker:
        return worker(args)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    for impl, mode in VARIANTS:
        result_file = out / f"{impl}-{mode}.json"
        log.info("running %s / %s", impl, mode)
        subprocess.run(
            [sys.executable, __file__, "--worker", "--impl", impl, "--mode", mode, "--model", args.model,
             "--steps", str(args.steps), "--out", str(out), "--result", str(result_file)],
            check=True,
        )
        results.append(json.loads(result_file.read_text()))
    by_key = {(r["impl"], r["mode"]): r for r in results}
    overhead = {
        mode: by_key[("ours", mode)]["mean_step_s"] / by_key[("plain", mode)]["mean_step_s"] - 1.0
        for mode in ("full", "lora")
    }
    summary = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "settings": {"prompts_per_step": PROMPTS_PER_STEP, "generations": GENERATIONS,
                     "completion_tokens": COMPLETION_TOKENS, "steps": args.steps, "lora_r": LORA_R,
                     "threads": THREADS,
                     "model": args.model},
        "results": results,
        "overhead": overhead,
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    lines = [f"{'impl':6} {'mode':5} {'s/step':>8} {'peak RSS GiB':>13} {'process s':>10}"]
    for result in results:
        lines.append(
            f"{result['impl']:6} {result['mode']:5} {result['mean_step_s']:8.2f} "
            f"{result['peak_rss_gib']:13.2f} {result['process_wall_s']:10.1f}"
        )
    lines.append("overhead (ours / plain - 1): " + ", ".join(f"{k} {v:+.1%}" for k, v in overhead.items()))
    log.info("\n%s", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
