"""Loop vs static at equal budget, and JGLV's precision/recall on injected label errors.

Runs ``looptool run`` with ``loop.modes=[loop, static]`` (same seed set, same held-out slice,
same budget and training steps) on a copy of the seed set in which a known fraction of the
training labels is corrupted (one argument value changed, or the call replaced). The corrupted
samples are marked in ``metadata["injected_error"]``, a key the loop never reads. After the
run, every JGLV verdict on an injected sample is a chance to find it:

- recall: injected samples the judge called LABEL_WRONG / injected samples it judged;
- precision: injected samples among all LABEL_WRONG verdicts.

Usage (the embedded model on CPU, about 25-40 minutes on 2 cores)::

    .venv/bin/python perf/loop_vs_static.py --config configs/smoke.yaml --out runs/perf/loop-vs-static \
        --inject 0.25 --set loop.iterations=2

Writes ``<out>/benchmark.json`` and prints a table; ``looptool report <out>`` draws the
accuracy per iteration of both modes.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import random
from pathlib import Path
from typing import Any

from looptool.config import load_config
from looptool.jsonl import read_jsonl, write_json_atomic, write_jsonl
from looptool.labels import label_problems
from looptool.logs import setup_logging
from looptool.loop.controller import SEED_STAGE, LoopRunner
from looptool.loop.records import JudgeRecord, RunReport
from looptool.rundir import RunDir
from looptool.schema import Sample, ToolCall

log = logging.getLogger("perf.loop_vs_static")
INJECTED = "injected_error"


def corrupt(sample: Sample, rng: random.Random) -> Sample | None:
    """The sample with a wrong label (a changed argument value), or None when it has no call."""
    if not sample.label_calls:
        return None
    calls = [call.model_copy(deep=True) for call in sample.label_calls]
    call = rng.choice(calls)
    arguments: dict[str, Any] = copy.deepcopy(call.arguments)
    if arguments:
        name = rng.choice(sorted(arguments))
        value = arguments[name]
        if isinstance(value, bool):
            arguments[name] = not value
        elif isinstance(value, int | float):
            arguments[name] = value + rng.choice([1, 2, 7, 10])
        else:
            arguments[name] = f"{value}x" if isinstance(value, str) else "wrong"
    else:
        return None
    index = calls.index(call)
    calls[index] = ToolCall(name=call.name, arguments=arguments)
    original = [c.model_dump(mode="json", exclude_none=True) for c in sample.label_calls]
    corrupted = sample.model_copy(update={"label_calls": calls, "metadata": {**sample.metadata, INJECTED: original}})
    # a wrong label must still fit the tool's schema (training refuses a file that breaks it)
    return None if label_problems(corrupted) else corrupted


class InjectingRunner(LoopRunner):
    """The loop with a seed stage that corrupts a fraction of the training labels once."""

    def __init__(self, *args: Any, fraction: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fraction = fraction

    def seed_stage(self, base: Any) -> tuple[list[Sample], list[Sample]]:
        stage = self.run.stage(SEED_STAGE)
        marker = stage.path / "injected.json"
        train, heldout = super().seed_stage(base)
        if marker.exists():
            return train, heldout
        rng = random.Random(f"inject:{self.seed_settings.seed}")
        injected: list[str] = []
        out: list[Sample] = []
        for sample in train:
            bad = corrupt(sample, rng) if rng.random() < self.fraction else None
            out.append(bad or sample)
            if bad is not None:
                injected.append(sample.id)
        write_jsonl(stage.path / "train.jsonl", out)
        write_json_atomic(marker, {"fraction": self.fraction, "injected": injected})
        log.info("injected wrong labels into %d of %d training samples", len(injected), len(train))
        return out, heldout


def jglv_scores(run: Path) -> dict[str, Any]:
    injected = set(json.loads((run / SEED_STAGE / "injected.json").read_text())["injected"])
    judged_injected = label_wrong = label_wrong_injected = 0
    for path in sorted(run.glob("loop/iter_*/judge/verdicts.jsonl")):
        for record in read_jsonl(path, JudgeRecord):
            is_injected = record.sample_id in injected
            judged_injected += is_injected
            if record.verdict.value == "LABEL_WRONG":
                label_wrong += 1
                label_wrong_injected += is_injected
    return {
        "injected": len(injected),
        "injected_judged": judged_injected,
        "label_wrong_verdicts": label_wrong,
        "recall": label_wrong_injected / judged_injected if judged_injected else None,
        "precision": label_wrong_injected / label_wrong if label_wrong else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/smoke.yaml")
    parser.add_argument("--out", required=True)
    parser.add_argument("--inject", type=float, default=0.25, help="fraction of training labels made wrong")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    setup_logging("INFO")
    overrides = ["loop.modes=[loop, static]", *args.overrides]
    config = load_config(args.config, overrides)
    run = RunDir.create(config, args.out)
    report = InjectingRunner(config, run, fraction=args.inject).run_all()
    result = {
        "config": args.config,
        "overrides": overrides,
        "base_heldout": report.base_heldout_accuracy,
        "heldout_by_mode": {
            mode: {s.iteration: s.heldout_accuracy for s in report.iterations if s.mode.value == mode}
            for mode in ("loop", "static")
        },
        "benchmarks_by_mode": {
            mode: {s.iteration: s.benchmark_accuracy for s in report.iterations if s.mode.value == mode}
            for mode in ("loop", "static")
        },
        "jglv": jglv_scores(run.path),
    }
    write_json_atomic(run.path / "benchmark.json", result)
    log.info("%s", json.dumps(result, indent=2))
    report_path = run.path / "run_report.json"
    RunReport.model_validate_json(report_path.read_text())  # the run's report is complete
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
