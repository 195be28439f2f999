"""Peak RSS of GRPO per phase (generation, log-prob forward, backward), ours vs plain TRL.

Each variant runs in a fresh process on the smoke run's training settings: the embedded
SmolLM2-135M, LoRA r=16, 2 prompts x 4 rollouts, 64 new tokens, the curated seed set with one
demonstration exchange (prompts of several hundred tokens). Phases are found by wrapping
TRL's own methods at class level (``GRPOTrainer._generate``,
``GRPOTrainer._get_per_token_logps_and_entropies``, ``Accelerator.backward``); the kernel's
peak-RSS counter (``VmHWM``) is reset at every phase start (``/proc/self/clear_refs``), so
each figure is that phase's own peak. The first step is warm-up for timing; besides wall
seconds per step, CPU seconds per step (user + system, all threads) are kept, which a busy
shared machine disturbs far less than wall time.

    .venv/bin/python perf/grpo_memory.py --out runs/perf/grpo-memory --steps 3 [--variants a,b]

``--data`` / ``--model`` take a loop run's own training stage instead (e.g. a smoke run's
``loop/iter_2/data.jsonl`` and ``loop/iter_1/train/model``): the composed data's prompts are
longer than the seed set's.

Variants: ``before`` (the smoke recipe as it was: 4 completions per pass, no checkpointing),
``plain`` (a plain TRL script with the ``before`` settings), ``checkpointing``, ``micro2``
(checkpointing + 2 completions per pass), ``arena2`` (``micro2`` + ``MALLOC_ARENA_MAX=2``),
``mmap64k`` (``micro2`` + ``MALLOC_MMAP_THRESHOLD_=65536``: freed tensors go back to the OS),
``jemalloc`` (``micro2`` with Debian's libjemalloc2 preloaded, when installed), ``after``
(the low-memory settings: checkpointing, 2 completions per pass, ``cpu_mmap_threshold_kib: 64``), ``after-micro4`` / ``after-mmap1m`` /
``after-no-checkpointing`` (one default changed each), ``trim`` / ``trim-micro4`` / ``trim-micro1`` (glibc's
own threshold, ``malloc_trim`` after every pass instead), ``plain-after`` (plain TRL with the same settings:
checkpointing, 2 completions per pass, ``MALLOC_MMAP_THRESHOLD_=65536``), ``plain-trim`` (plain TRL with
checkpointing, 2 completions per pass and the same ``malloc_trim`` callback). Writes ``<out>/results.json`` and a table.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("perf.grpo_memory")

JEMALLOC = Path("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
SMOKE = {"prompts_per_step": 2, "num_generations": 4, "max_completion_tokens": 64, "lora_r": 16,
         "learning_rate": 2e-4, "temperature": 0.7}
OLD = {"cpu_mmap_threshold_kib": None, "cpu_trim_memory": False}  # glibc as it comes: no threshold, no trim
LOW = {"gradient_checkpointing": True, "micro_batch_size": 2, "cpu_mmap_threshold_kib": 64,
       "cpu_trim_memory": False}  # the first low-memory settings (mmap threshold)
VARIANTS: dict[str, dict[str, Any]] = {
    "before": {"impl": "ours", "train": {"micro_batch_size": 4, "gradient_checkpointing": False, **OLD}},
    "plain": {"impl": "plain", "train": {"micro_batch_size": 4, "gradient_checkpointing": False}},
    "checkpointing": {"impl": "ours", "train": {"micro_batch_size": 4, "gradient_checkpointing": True, **OLD}},
    "micro2": {"impl": "ours", "train": {"micro_batch_size": 2, "gradient_checkpointing": True, **OLD}},
    "arena2": {"impl": "ours", "train": {"micro_batch_size": 2, "gradient_checkpointing": True, **OLD},
               "env": {"MALLOC_ARENA_MAX": "2"}},
    "mmap64k": {"impl": "ours", "train": {"micro_batch_size": 2, "gradient_checkpointing": True, **OLD},
                "env": {"MALLOC_MMAP_THRESHOLD_": "65536"}},
    "jemalloc": {"impl": "ours", "train": {"micro_batch_size": 2, "gradient_checkpointing": True, **OLD},
                 "env": {"LD_PRELOAD": str(JEMALLOC)}},
    "after": {"impl": "ours", "train": LOW},
    "after-micro4": {"impl": "ours", "train": {**LOW, "micro_batch_size": 4}},
    "after-mmap1m": {"impl": "ours", "train": {**LOW, "cpu_mmap_threshold_kib": 1024}},
    "after-no-checkpointing": {"impl": "ours", "train": {**LOW, "gradient_checkpointing": False}},
    "trim": {"impl": "ours", "train": {**LOW, "cpu_mmap_threshold_kib": None, "cpu_trim_memory": True}},
    "trim-micro4": {"impl": "ours", "train": {**LOW, "cpu_mmap_threshold_kib": None, "cpu_trim_memory": True,
                                              "micro_batch_size": 4}},
    "trim-micro1": {"impl": "ours", "train": {**LOW, "cpu_mmap_threshold_kib": None, "cpu_trim_memory": True,
                                              "micro_batch_size": 1}},
    "plain-after": {"impl": "plain", "train": {"micro_batch_size": 2, "gradient_checkpointing": True},
                    "env": {"MALLOC_MMAP_THRESHOLD_": "65536"}},
    "plain-trim": {"impl": "plain", "train": {"micro_batch_size": 2, "gradient_checkpointing": True,
                                              "cpu_trim_memory": True}},
}


class PhasePeaks:
    """The process's peak RSS (KiB) inside each wrapped TRL method, the kernel's VmHWM reset at
    each call's start (``training.report``'s counter; the trainer's own phases are coarser)."""

    def __init__(self) -> None:
        self.peaks: dict[str, int] = {}
        self.depth = 0

    def wrap(self, owner: Any, name: str, phase: str) -> None:
        from looptool.training.report import peak_rss_bytes, reset_peak_rss

        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if self.depth:
                return original(*args, **kwargs)
            self.depth += 1
            reset_peak_rss()
            try:
                return original(*args, **kwargs)
            finally:
                self.depth -= 1
                self.peaks[phase] = max(self.peaks.get(phase, 0), (peak_rss_bytes() or 0) // 1024)

        setattr(owner, name, wrapped)


def training_samples(count: int) -> list[Any]:
    from looptool.loop.seed.build import build_seed_set
    from looptool.loop.seed.settings import SeedSettings

    return build_seed_set(SeedSettings(demonstrations=1)).train[:count]


def run_ours(model: str, data: Path, out: Path, steps: int, train: dict[str, Any], timer: Any) -> None:
    from looptool.training.settings import LoraSettings, TrainSettings
    from looptool.training.trainer import TrainJob, run_training

    settings = TrainSettings(
        mode="lora", lora=LoraSettings(r=SMOKE["lora_r"], alpha=2 * SMOKE["lora_r"]),
        num_generations=SMOKE["num_generations"], prompts_per_step=SMOKE["prompts_per_step"],
        max_completion_tokens=SMOKE["max_completion_tokens"], learning_rate=SMOKE["learning_rate"],
        temperature=SMOKE["temperature"], max_steps=steps, holdout_fraction=0.0, save_steps=10_000,
        save_final_model=False, device="cpu", rewards=["tool_match", "tool_match_shaped"], **train,
    )
    run_training(TrainJob(data=data, out=out, settings=settings, model=model, seed=0, callbacks=[timer]))


def run_plain(model: str, data: Path, out: Path, steps: int, train: dict[str, Any], timer: Any) -> None:
    """What a user would write with TRL alone, with the same rows, rewards, seed and settings."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from looptool.jsonl import read_jsonl
    from looptool.schema import Sample
    from looptool.training.examples import build_example
    from looptool.training.rewards import tool_match, tool_match_shaped
    from looptool.training.trainer import TrimFreedMemory

    rows = [build_example(sample, None, max_prompt_tokens=10**9).to_row() for sample in read_jsonl(data, Sample)]
    completions = SMOKE["prompts_per_step"] * SMOKE["num_generations"]
    micro = train["micro_batch_size"]
    config = GRPOConfig(
        output_dir=str(out), use_cpu=True, bf16=False, model_init_kwargs={"dtype": "float32"},
        activation_checkpointing=train["gradient_checkpointing"],
        per_device_train_batch_size=micro, gradient_accumulation_steps=completions // micro,
        steps_per_generation=completions // micro, num_generations=SMOKE["num_generations"],
        max_completion_length=SMOKE["max_completion_tokens"], temperature=SMOKE["temperature"],
        learning_rate=SMOKE["learning_rate"], lr_scheduler_type="constant", epsilon=0.2, epsilon_high=0.28,
        beta=0.0, loss_type="dapo", max_steps=steps, seed=0, logging_steps=1, save_strategy="no",
        report_to="none", disable_tqdm=True,
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=[tool_match, tool_match_shaped], args=config,
        train_dataset=Dataset.from_list(rows), processing_class=AutoTokenizer.from_pretrained(model, padding_side="left"),
        peft_config=LoraConfig(r=SMOKE["lora_r"], lora_alpha=2 * SMOKE["lora_r"], target_modules="all-linear",
                               task_type="CAUSAL_LM"),
        callbacks=[timer, *([TrimFreedMemory()] if train.get("cpu_trim_memory") else [])],
    )
    trainer.train()


def worker(args: argparse.Namespace) -> int:
    from accelerate import Accelerator
    from grpo_step import StepTimer  # perf/ is on sys.path
    from trl import GRPOTrainer

    from looptool.jsonl import write_jsonl
    from looptool.training.model import resolve_model_path

    variant = VARIANTS[args.variant]
    model = str(resolve_model_path(args.model))
    out = Path(args.out) / args.variant
    out.mkdir(parents=True, exist_ok=True)
    data = Path(args.data) if args.data else out / "samples.jsonl"
    if not args.data:
        write_jsonl(data, training_samples(16))
    peaks = PhasePeaks()
    peaks.wrap(GRPOTrainer, "_generate", "generation")
    peaks.wrap(GRPOTrainer, "_get_per_token_logps_and_entropies", "logprob")
    peaks.wrap(Accelerator, "backward", "backward")
    timer = StepTimer()
    started = time.perf_counter()
    runner = run_ours if variant["impl"] == "ours" else run_plain
    runner(model, data, out / "run", args.steps, variant["train"], timer)
    counted = timer.times[1:] or timer.times
    cpu_counted = timer.cpu_times[1:] or timer.cpu_times
    import resource

    result = {
        "variant": args.variant,
        "impl": variant["impl"],
        "train": variant["train"],
        "env": variant.get("env", {}),
        "step_seconds": [round(value, 2) for value in timer.times],
        "mean_step_s": sum(counted) / len(counted),
        "cpu_step_seconds": [round(value, 2) for value in timer.cpu_times],
        "mean_cpu_step_s": sum(cpu_counted) / len(cpu_counted),
        "phase_peak_rss_gib": {phase: kib / 2**20 for phase, kib in peaks.peaks.items()},
        "process_peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "process_wall_s": time.perf_counter() - started,
    }
    Path(args.result).write_text(json.dumps(result))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/perf/grpo-memory")
    parser.add_argument("--steps", type=int, default=3, help="steps per variant (the first is warm-up)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset")
    parser.add_argument("--data", help="training samples (JSONL); default: 16 curated seed samples")
    parser.add_argument("--model", default="embedded", help="model folder (default: the embedded SmolLM2)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.worker:
        return worker(args)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    for name in args.variants.split(","):
        variant = VARIANTS[name]
        env = {**os.environ, **variant.get("env", {})}
        if "LD_PRELOAD" in variant.get("env", {}) and not JEMALLOC.is_file():
            log.warning("skipping %s: %s is not installed (apt-get install libjemalloc2)", name, JEMALLOC)
            continue
        result_file = out / f"{name}.json"
        log.info("running %s", name)
        subprocess.run([sys.executable, __file__, "--worker", "--variant", name, "--steps", str(args.steps),
                        "--out", str(out), "--result", str(result_file), "--model", args.model,
                        *(["--data", args.data] if args.data else [])], check=True, env=env)
        results.append(json.loads(result_file.read_text()))
        (out / "results.json").write_text(json.dumps({
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "settings": SMOKE, "steps": args.steps, "results": results}, indent=2))
    lines = [f"{'variant':14} {'s/step':>7} {'CPU s':>7} {'gen GiB':>8} {'logprob':>8} {'backward':>8} {'peak GiB':>8}"]
    for result in results:
        phases = result["phase_peak_rss_gib"]
        lines.append(f"{result['variant']:14} {result['mean_step_s']:7.1f} {result['mean_cpu_step_s']:7.1f} {phases.get('generation', 0):8.2f} "
                     f"{phases.get('logprob', 0):8.2f} {phases.get('backward', 0):8.2f} "
                     f"{result['process_peak_rss_gib']:8.2f}")
    log.info("\n%s", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
