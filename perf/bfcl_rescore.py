"""Re-scoring all 4,441 BFCL-v3 entries from stored outputs.

Stored outputs are derived from BFCL's ground truth (single-turn: the first allowed value of
each parameter; multi-turn: the ground-truth calls of each turn as one step; irrelevance: a
text answer), written once into a runner cell exactly as ``looptool eval`` keeps them. The
timed part is ``looptool rescore RUN --no-chart`` in a fresh process (interpreter start, BFCL
worker start, data load, reading outputs, the official checkers on every entry, summary),
plus the same re-score warm in-process. With ``--official`` the outputs are also scored by
BFCL's own ``eval_runner`` and the per-entry verdicts compared.

Usage::

    .venv/bin/python perf/bfcl_rescore.py [--official] [--out DIR]

Prints one JSON object: wall times, entry counts, the overall, agreement, the machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from looptool.benchmarks.base import ModelEndpoint
from looptool.benchmarks.bfcl import BfclV3, ground_truth_output
from looptool.benchmarks.bfcl.categories import ALL
from looptool.benchmarks.bfcl.worker_client import find_bfcl_python
from looptool.benchmarks.runner.engine import rescore
from looptool.benchmarks.runner.store import CellManifest, CellRequest, CellStore
from looptool.jsonl import write_jsonl
from looptool.logs import setup_logging

log = logging.getLogger("bfcl_rescore")
REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "benchmarks" / "bfcl_official_reference.py"


def machine() -> dict[str, object]:
    memory_gib = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as stream:
            memory_gib = round(int(stream.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "memory_gib": memory_gib, "python": platform.python_version(),
            "platform": platform.platform()}


def prepare(run_dir: Path, bfcl: BfclV3) -> tuple[CellStore, int]:
    entries = bfcl.load(list(ALL))
    endpoint = ModelEndpoint(label="ground_truth", model="ground_truth")
    store = CellStore.for_cell(run_dir, endpoint.cell_name, bfcl.name)
    write_jsonl(store.outputs_file, [ground_truth_output(entry) for entry in entries])
    request = CellRequest(benchmark=bfcl.name, benchmark_version=bfcl.version, categories=list(ALL),
                          options=bfcl.options.model_dump(mode="json"))
    store.write_manifest(CellManifest(request=request, model=endpoint.model_dump(mode="json"),
                                      entries=len(entries), outputs=len(entries), complete=True))
    return store, len(entries)


def official_agreement(bfcl: BfclV3, store: CellStore, work: Path) -> dict[str, object]:
    entries = bfcl.load(list(ALL))
    outputs = store.outputs()
    items = [{"id": e.id, "category": e.category, "decoded": BfclV3.decoded_for_checker(e, outputs[e.id])}
             for e in entries]
    (work / "in.json").write_text(json.dumps({"categories": list(ALL), "items": items}))
    started = time.perf_counter()
    subprocess.run([str(find_bfcl_python()), str(REFERENCE), str(work / "in.json"), str(work / "out.json")],
                   check=True, capture_output=True)
    official_s = time.perf_counter() - started
    official = json.loads((work / "out.json").read_text())
    ours = {score.entry_id: score.score == 1.0 for score in store.scores()}
    disagree = sorted(key for key in ours if ours[key] != official[key])
    return {"official_wall_s": round(official_s, 2), "official_correct": sum(official.values()),
            "disagreements": len(disagree), "disagreeing_ids": disagree[:20]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="work folder (default: a temporary one)")
    parser.add_argument("--official", action="store_true", help="also compare with BFCL's own eval_runner")
    args = parser.parse_args()
    setup_logging("WARNING")
    work = Path(args.out or tempfile.mkdtemp(prefix="bfcl-rescore-"))
    run_dir = work / "run"
    bfcl = BfclV3()
    store, count = prepare(run_dir, bfcl)

    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "looptool.cli", "--log-level", "WARNING", "rescore", str(run_dir),
                    "--no-chart"], cwd=REPO, check=True, capture_output=True)
    cold_s = time.perf_counter() - started

    started = time.perf_counter()
    (result,) = rescore(run_dir)
    warm_s = time.perf_counter() - started
    assert result.summary is not None
    scores = store.scores()
    report: dict[str, object] = {
        "entries": count,
        "scored": len(scores),
        "correct": sum(1 for score in scores if score.score == 1.0),
        "overall_pct": round(100 * (result.summary.overall() or 0.0), 2),
        "rescore_cold_process_wall_s": round(cold_s, 2),
        "rescore_warm_in_process_wall_s": round(warm_s, 2),
        "machine": machine(),
    }
    if args.official:
        report |= official_agreement(bfcl, store, work)
    print(json.dumps(report, indent=2))  # noqa: T201 - the script's result
    return 0


if __name__ == "__main__":
    sys.exit(main())
