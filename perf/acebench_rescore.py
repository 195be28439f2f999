"""Re-scoring every ACEBench entry (en + zh, 1,800 scored units) from stored outputs.

Stored outputs are derived from the gold answers (prompt-mode answer text per turn; for agent
items the ground-truth end state and the first milestone sequence), written once into a
runner cell (``outputs.jsonl``, the file ``looptool eval`` keeps). The timed part is what a
re-score does: load the data, read the stored outputs, score every entry in both modes,
summarise.

Usage::

    .venv/bin/python perf/acebench_rescore.py [--repeat 3] [--out DIR]

Prints one JSON object: per-phase wall times (best of ``--repeat``), entry count, the
overall scores, and the machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

from looptool.benchmarks.acebench import AceBench
from looptool.benchmarks.acebench.data import clear_cache
from looptool.benchmarks.acebench.gold import gold_output
from looptool.benchmarks.acebench.paths import resolve_data_dir
from looptool.benchmarks.runner.store import CellStore
from looptool.jsonl import write_jsonl
from looptool.logs import setup_logging

log = logging.getLogger("acebench_rescore")


def _machine() -> dict[str, object]:
    memory_gib = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as stream:
            memory_gib = round(int(stream.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (best is reported)")
    parser.add_argument("--out", help="cell folder for the stored outputs (default: a temp folder)")
    args = parser.parse_args(argv)
    setup_logging("WARNING")

    root = resolve_data_dir()
    bench = AceBench({"data_dir": str(root)})
    with tempfile.TemporaryDirectory() as scratch:
        store = CellStore(Path(args.out) if args.out else Path(scratch) / "acebench")
        store.path.mkdir(parents=True, exist_ok=True)
        entries = bench.load(bench.categories())
        outputs = [gold_output(bench.item_of(e), e.id, e.category, exact_names=True) for e in entries]
        write_jsonl(store.outputs_file, outputs)

        timings: dict[str, list[float]] = {"load": [], "read": [], "score": [], "summarize": [], "total": []}
        summary = None
        for _ in range(max(1, args.repeat)):
            clear_cache()  # every repetition reads the data files again
            fresh = AceBench({"data_dir": str(root)})
            start = time.perf_counter()
            loaded = fresh.load(fresh.categories())
            after_load = time.perf_counter()
            stored = store.outputs()
            after_read = time.perf_counter()
            scores = fresh.score_batch(loaded, [stored[entry.id] for entry in loaded])
            after_score = time.perf_counter()
            summary = fresh.summarize(scores)
            end = time.perf_counter()
            for key, value in (
                ("load", after_load - start),
                ("read", after_read - after_load),
                ("score", after_score - after_read),
                ("summarize", end - after_score),
                ("total", end - start),
            ):
                timings[key].append(value)

    assert summary is not None
    report = {
        "entries": len(entries),
        "best_s": {key: round(min(values), 3) for key, values in timings.items()},
        "all_total_s": [round(value, 3) for value in timings["total"]],
        "overall": {mode: summary.overall(mode) for mode in ("upstream", "strict")},
        "machine": _machine(),
    }
    print(json.dumps(report, indent=2))  # noqa: T201 - the script's result
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
