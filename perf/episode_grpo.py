"""Multi-step GRPO on episodes with the embedded model on CPU: does held-out end-state success
move, and what does a step cost next to single-step GRPO?

Data: the curated episodes (``looptool episodes build``: 2-4 calls each over the file system
and calendar backends), a seeded held-out slice by curated id, and one solved training episode
shown as a demonstration in the system prompt (``train.preamble``). Phases, each in a fresh
process so peak RSS is its own:

* ``before``: the base model served by vLLM plays every held-out episode greedily.
* ``episode``: ``looptool train`` with ``sample_kind: episode`` (TRL environment_factory) for
  ``--max-steps`` steps or ``--max-minutes``; its report holds the reward curve and held-out
  success after training (the trained model served by vLLM).
* ``step``: single-step GRPO on the same training episodes cut to their first call (context ->
  first reference call), same batch, for ``--step-steps`` steps: seconds per step, tokens per
  second and peak RSS at the same model and batch.

    nohup .venv/bin/python perf/episode_grpo.py --out runs/perf/episode-grpo --max-minutes 30 \\
        > runs/perf/episode-grpo.log 2>&1 &

Writes ``<out>/results.json`` and a table.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("perf.episode_grpo")

COMMON: dict[str, Any] = {
    "mode": "lora", "lora": {"r": 16, "alpha": 32}, "prompts_per_step": 2, "num_generations": 4,
    "learning_rate": 2e-4, "temperature": 1.0, "max_prompt_tokens": 3072, "save_steps": 5,
    "holdout_fraction": 0.0, "heldout_backend": "vllm", "save_total_limit": 1,
    # CPU memory: train's defaults (checkpointing, 2 completions per pass, malloc_trim); episode
    # sequences are ~2-3k tokens (a 2 x 2 step without them reached 12.9 GiB)
}
EPISODE = {"sample_kind": "episode", "rewards": ["episode_end_state", "episode_shaped"],
           "reward_weights": [1.0, 1.0], "max_completion_tokens": 384, "max_tool_calling_iterations": 4}
STEP = {"sample_kind": "step", "rewards": ["tool_match"], "max_completion_tokens": 96}


def demonstration(episode: Any) -> str:
    """One solved episode as text for the system prompt: the request, each call in Hermes
    form with the backend's answer, and a closing reply."""
    from looptool.agents.backends.episode_env import environment_for, run_call
    from looptool.codecs import render_hermes

    environment = environment_for(episode)
    lines = ["Example of a finished task (a different one):", f"User: {episode.context[-1].content}"]
    for call in episode.expected.calls:
        step = run_call(environment, call)
        lines += [f"Assistant: {render_hermes([call])}", f"Tool result: {step.content}"]
    lines.append("Assistant: Done.")
    return "\n".join(lines)


def split(episodes: list[Any], heldout: int, seed: int) -> tuple[list[Any], list[Any]]:
    ranked = sorted(episodes, key=lambda e: hashlib.sha256(f"{seed}:{e.lineage.source_item or e.id}".encode()).hexdigest())
    return ranked[heldout:], ranked[:heldout]


def prepare(out: Path, heldout_count: int, seed: int) -> dict[str, Any]:
    from looptool.jsonl import write_jsonl
    from looptool.loop.seed.episodes import curated_episodes
    from looptool.schema import Sample

    episodes = [e for e in curated_episodes() if len(e.expected.calls) >= 2]
    train, heldout = split(episodes, heldout_count, seed)
    demo_episode = next(e for e in train if e.backends == ["filesystem"] and len(e.expected.calls) == 2)
    train = [e for e in train if e.id != demo_episode.id]
    write_jsonl(out / "train_episodes.jsonl", train)
    write_jsonl(out / "heldout_episodes.jsonl", heldout)
    from looptool.agents.backends.episode_env import environment_class

    samples = [Sample(id=e.id, tools=list(environment_class(e.backends).tool_specs), context=list(e.context),
                      now=e.now, label_calls=[e.expected.calls[0]]) for e in train]
    write_jsonl(out / "train_steps.jsonl", samples)
    info = {"train": len(train), "heldout": len(heldout), "demonstration": demo_episode.id,
            "preamble": demonstration(demo_episode),
            "calls_per_heldout_episode": sorted(len(e.expected.calls) for e in heldout)}
    (out / "data.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info


def phase_before(out: Path, preamble: str) -> dict[str, Any]:
    from looptool.completions import OpenAICompatClient
    from looptool.config import RoleSettings, ServeSettings
    from looptool.episodes import load_episodes
    from looptool.serve import VllmServer, free_port
    from looptool.training.episode_rollout import evaluate_episodes, write_outcomes
    from looptool.training.episodes import prepare_tool_tokenizer
    from looptool.training.model import load_tokenizer, resolve_model_path

    episodes = load_episodes(out / "heldout_episodes.jsonl")
    tokenizer = prepare_tool_tokenizer(load_tokenizer(resolve_model_path("embedded")))
    serve = ServeSettings()
    server = VllmServer.from_settings(serve, model_path="embedded", served_name="base",
                                      log_path=out / "before-vllm.log", port=free_port(serve.host))

    async def run() -> Any:
        client = OpenAICompatClient.for_role(RoleSettings(base_urls=[server.base_url], model=server.model), "base")
        try:
            return await evaluate_episodes(episodes, client, tokenizer, max_completion_tokens=EPISODE["max_completion_tokens"],
                                           max_tool_calling_iterations=EPISODE["max_tool_calling_iterations"],
                                           preamble=preamble, concurrency=8, description="held-out before")
        finally:
            await client.aclose()

    with server:
        evaluation = asyncio.run(run())
    write_outcomes(out / "heldout_before.jsonl", evaluation)
    return {"success_rate": evaluation.success_rate, "episodes": len(evaluation.outcomes),
            "stop_reasons": _count(o.stop_reason for o in evaluation.outcomes),
            "mean_shaped": sum(o.shaped_reward for o in evaluation.outcomes) / max(1, len(evaluation.outcomes))}


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def phase_train(out: Path, kind: str, preamble: str, max_steps: int, max_minutes: float) -> dict[str, Any]:
    from transformers import TrainerCallback

    from looptool.config import ServeSettings
    from looptool.training.settings import TrainSettings
    from looptool.training.trainer import TrainJob, run_training

    class TimeBudget(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if time.monotonic() - self.started > max_minutes * 60:
                control.should_training_stop = True

    extra = EPISODE if kind == "episode" else STEP
    settings = TrainSettings(**{**COMMON, **extra, "max_steps": max_steps, "preamble": preamble,
                                "heldout_backend": "vllm" if kind == "episode" else "transformers"})
    data = out / ("train_episodes.jsonl" if kind == "episode" else "train_steps.jsonl")
    heldout = out / "heldout_episodes.jsonl" if kind == "episode" else None
    started_cpu = time.process_time()
    report = run_training(TrainJob(data=data, out=out / kind, settings=settings, model="embedded", seed=0,
                                   heldout_data=heldout, serve=ServeSettings(), callbacks=[TimeBudget()]))
    curve = [{"step": p.step, "rewards": p.rewards, "completion_length": p.completion_length} for p in report.reward_curve]
    return {"steps": report.steps, "seconds_per_step": report.seconds_per_step, "tokens_per_s": report.tokens_per_s,
            "tokens_seen": report.tokens_seen, "peak_rss_gib": report.peak_memory_bytes / 2**30,
            "train_time_s": report.train_time_s, "cpu_s": time.process_time() - started_cpu,
            "heldout_after": report.heldout_after.accuracy if kind == "episode" else None,
            "heldout_episodes": report.heldout_after.samples if kind == "episode" else None, "curve": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--heldout", type=int, default=12)
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--max-minutes", type=float, default=30.0)
    parser.add_argument("--step-steps", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--phases", default="before,episode,step")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.phase:
        info = json.loads((args.out / "data.json").read_text(encoding="utf-8"))
        if args.phase == "before":
            result = phase_before(args.out, info["preamble"])
        else:
            steps = args.max_steps if args.phase == "episode" else args.step_steps
            result = phase_train(args.out, args.phase, info["preamble"], steps, args.max_minutes)
        (args.out / f"{args.phase}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        return
    info = prepare(args.out, args.heldout, args.seed)
    log.info("data: %d train / %d held-out episodes; demonstration %s", info["train"], info["heldout"], info["demonstration"])
    for phase in args.phases.split(","):
        log.info("phase %s", phase)
        started = time.monotonic()
        subprocess.run([sys.executable, __file__, "--out", str(args.out), "--phase", phase, "--max-steps",
                        str(args.max_steps), "--max-minutes", str(args.max_minutes), "--step-steps", str(args.step_steps)],
                       check=True, env={**os.environ, "TRL_EXPERIMENTAL_SILENCE": "1"})
        log.info("phase %s done in %.0f s", phase, time.monotonic() - started)
    results = {name: json.loads((args.out / f"{name}.json").read_text()) for name in args.phases.split(",")
               if (args.out / f"{name}.json").is_file()}
    results["data"] = {k: v for k, v in info.items() if k != "preamble"}
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor(),
                          "date": time.strftime("%Y-%m-%d")}
    (args.out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    log.info("results: %s", json.dumps({k: v for k, v in results.items() if k != "episode"} | {
        "episode": {k: v for k, v in results.get("episode", {}).items() if k != "curve"}}, indent=2))


if __name__ == "__main__":
    main()
