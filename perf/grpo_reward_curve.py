"""Does GRPO move the embedded model? A fixed synthetic tool-calling task set, a capped CPU run.

The task set is generated here, deterministically: three small tools (get_weather, get_time,
convert_currency) and templated user requests; train and held-out prompts use disjoint cities
and amounts. The run trains with ``looptool train``'s own code (:func:`run_training`) and
reports the reward curve and held-out ToolMatch accuracy (greedy) before and after.

Usage (about 15 minutes on 2 cores; run it in the background):

    nohup .venv/bin/python perf/grpo_reward_curve.py --out runs/bench-reward-curve \\
        --max-steps 60 --max-minutes 11 > runs/bench-reward-curve.log 2>&1 &

Writes ``<out>/train_report.json`` (the normal run report) and ``<out>/reward_curve.json``
(a summary: per-step rewards, accuracy before/after, machine).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from looptool.codecs import render_hermes
from looptool.jsonl import write_json_atomic, write_jsonl
from looptool.logs import setup_logging
from looptool.schema import Message, Role, Sample, ToolCall, ToolSpec
from looptool.training.settings import LoraSettings, TrainSettings
from looptool.training.trainer import TrainJob, run_training

log = logging.getLogger("grpo_reward_curve")


class TimeBudget(TrainerCallback):
    """Ends training (normally: the final evaluation still runs) ``minutes`` after it began."""

    def __init__(self, minutes: float) -> None:
        self.seconds = minutes * 60
        self.started = time.monotonic()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if time.monotonic() - self.started > self.seconds:
            log.info("time budget reached after step %d", state.global_step)
            control.should_training_stop = True

TOOLS = [
    ToolSpec(
        name="get_weather",
        description="Get the current weather for a city.",
        parameters={
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    ),
    ToolSpec(
        name="get_time",
        description="Get the local time in a city.",
        parameters={
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    ),
    ToolSpec(
        name="convert_currency",
        description="Convert an amount of money from one currency to another.",
        parameters={
            "type": "object",
            "properties": {
                "amount": {"type": "number"},
                "from_currency": {"type": "string", "description": "ISO code, e.g. USD"},
                "to_currency": {"type": "string", "description": "ISO code, e.g. EUR"},
            },
            "required": ["amount", "from_currency", "to_currency"],
        },
    ),
]

TRAIN_CITIES = ["Paris", "Tokyo", "Lima", "Oslo", "Cairo", "Berlin", "Madrid", "Toronto", "Sydney", "Dublin",
                "Vienna", "Prague", "Seoul", "Nairobi", "Lisbon", "Warsaw"]
HELDOUT_CITIES = ["Rome", "Boston", "Delhi", "Athens", "Havana", "Zurich", "Manila", "Denver"]
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF", "CAD"]
WEATHER_TEMPLATES = ["What's the weather in {city}?", "How is the weather in {city} right now?",
                     "Is it raining in {city}?", "Tell me the current weather for {city}."]
TIME_TEMPLATES = ["What time is it in {city}?", "Tell me the local time in {city}.",
                  "Current time in {city}, please."]
CURRENCY_TEMPLATES = ["Convert {amount} {src} to {dst}.", "How much is {amount} {src} in {dst}?"]

# Earlier turns of the same dialogue that show the call format. SmolLM2-135M copies these
# (greedy: about half the prompts answered exactly); the same example put in the system
# preamble (ONE_SHOT) gave no tool call at all in 60 tries.
DEMOS = [
    Message(role=Role.USER, content="What's the weather in Quito?"),
    Message(role=Role.ASSISTANT, tool_calls=[ToolCall(name="get_weather", arguments={"city": "Quito"})]),
    Message(role=Role.USER, content="Convert 10 USD to EUR."),
    Message(
        role=Role.ASSISTANT,
        tool_calls=[
            ToolCall(name="convert_currency", arguments={"amount": 10, "from_currency": "USD", "to_currency": "EUR"})
        ],
    ),
    Message(role=Role.USER, content="What time is it in Lagos?"),
    Message(role=Role.ASSISTANT, tool_calls=[ToolCall(name="get_time", arguments={"city": "Lagos"})]),
]

ONE_SHOT = (
    "You are a function-calling assistant. Answer with <tool_call> blocks only.\n"
    "Example: for the request \"Weather in Quito?\" the answer is\n"
    + render_hermes([ToolCall(name="get_weather", arguments={"city": "Quito"})])
)


def make_task_set(
    cities: list[str], count: int, seed: int, prefix: str, demos: int = 3, tools: int = 3
) -> list[Sample]:
    """``count`` deterministic samples over ``cities`` (weather / time / currency; the first
    ``tools`` of them), each after ``demos`` demonstration exchanges."""
    rng = random.Random(seed)
    samples: list[Sample] = []
    offered = TOOLS[:tools]
    names = {tool.name for tool in offered}
    context_demos = [
        message
        for pair in zip(DEMOS[0::2], DEMOS[1::2], strict=True)
        if all(call.name in names for call in pair[1].tool_calls)
        for message in pair
    ][: 2 * demos]
    for index in range(count):
        kind = index % tools
        city = rng.choice(cities)
        if kind == 0:
            text = rng.choice(WEATHER_TEMPLATES).format(city=city)
            call = ToolCall(name="get_weather", arguments={"city": city})
        elif kind == 1:
            text = rng.choice(TIME_TEMPLATES).format(city=city)
            call = ToolCall(name="get_time", arguments={"city": city})
        else:
            amount = rng.choice([5, 20, 50, 100, 250, 1000]) + (0 if prefix == "train" else 3)
            src, dst = rng.sample(CURRENCIES, 2)
            text = rng.choice(CURRENCY_TEMPLATES).format(amount=amount, src=src, dst=dst)
            call = ToolCall(
                name="convert_currency", arguments={"amount": amount, "from_currency": src, "to_currency": dst}
            )
        samples.append(
            Sample(
                id=f"{prefix}-{index:03d}",
                tools=offered,
                context=[*context_demos, Message(role=Role.USER, content=text)],
                label_calls=[call],
            )
        )
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/bench-reward-curve")
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--train", type=int, default=96, help="training prompts")
    parser.add_argument("--heldout", type=int, default=16, help="held-out prompts")
    parser.add_argument("--max-steps", type=int, default=40)
    parser.add_argument("--max-minutes", type=float, default=12.0, help="training time budget")
    parser.add_argument("--mode", choices=["full", "lora"], default="lora")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--completion-tokens", type=int, default=40)
    parser.add_argument("--rewards", default="tool_match,tool_match_shaped")
    parser.add_argument("--tools", type=int, default=3, choices=[1, 2, 3], help="tools offered")
    parser.add_argument("--prompts-per-step", type=int, default=4)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--demos", type=int, choices=[0, 1, 2, 3], default=1, help="demo exchanges in context")
    parser.add_argument("--one-shot-preamble", action="store_true", help="also put an example in the system prompt")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    setup_logging("INFO", out / "log.jsonl")
    train = make_task_set(TRAIN_CITIES, args.train, seed=1, prefix="train", demos=args.demos, tools=args.tools)
    heldout = make_task_set(HELDOUT_CITIES, args.heldout, seed=2, prefix="heldout", demos=args.demos, tools=args.tools)
    data = out / "samples.jsonl"
    write_jsonl(data, train)
    write_jsonl(out / "heldout.jsonl", heldout)
    settings = TrainSettings(
        mode=args.mode,
        lora=LoraSettings(r=args.lora_r, alpha=2 * args.lora_r),
        num_generations=args.generations,
        prompts_per_step=args.prompts_per_step,
        threads=args.threads,
        temperature=args.temperature,
        learning_rate=args.lr,
        max_steps=args.max_steps,
        epochs=100,
        epsilon=0.2,
        epsilon_high=0.28,
        beta=0.0,
        max_completion_tokens=args.completion_tokens,
        preamble=ONE_SHOT if args.one_shot_preamble else "",
        rewards=args.rewards.split(","),
        holdout_max=args.heldout,
        evaluate_before=True,
        eval_batch_size=8,
        save_steps=10,
        save_final_model=False,
        device="cpu",
    )
    report = run_training(
        TrainJob(data=data, out=out, settings=settings, model=args.model, seed=0,
                 heldout_data=out / "heldout.jsonl", callbacks=[TimeBudget(args.max_minutes)])
    )
    summary = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "settings": {"mode": args.mode, "lr": args.lr, "lora_r": args.lora_r, "temperature": args.temperature,
                     "completion_tokens": args.completion_tokens,
                     "tools": args.tools, "prompts_per_step": args.prompts_per_step,
                     "generations": args.generations, "threads": args.threads, "max_steps": args.max_steps, "max_minutes": args.max_minutes, "rewards": args.rewards,
                     "demos": args.demos, "one_shot_preamble": args.one_shot_preamble, "train": args.train, "heldout": args.heldout},
        "heldout_before": report.heldout_before.accuracy if report.heldout_before else None,
        "heldout_after": report.heldout_after.accuracy,
        "steps": report.steps,
        "train_time_s": report.train_time_s,
        "seconds_per_step": report.seconds_per_step,
        "peak_memory_gib": report.peak_memory_bytes / 2**30,
        "curve": [{"step": p.step, "reward": p.reward, **p.rewards} for p in report.reward_curve],
    }
    write_json_atomic(out / "reward_curve.json", summary)
    log.info("%s", json.dumps({k: v for k, v in summary.items() if k != "curve"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
