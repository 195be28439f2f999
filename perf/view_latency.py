"""Run browser latency and memory on a big synthetic run: ``looptool view`` in its own process.

Synthesizes a loop run folder with ``--samples`` distinct samples (seed pool, held-out, two
iterations with probe records, verdicts, relabels, expansions and next data) and a trace store
with ``--steps`` events, then starts ``looptool view`` on it and measures, over HTTP: start-up
until the URL is printed, the first (cold) overview page, the first sample page (asked for while
the whole run is still read in the background, it reads only its own lines; with ``--preload``
the run is read before the URL), another sample page, a filtered samples list (the first page
that waits for the background read), a trace page, a sample page a few seconds after the start
(a user who read the overview first), and the server's resident memory (VmRSS / peak VmHWM from
/proc).

    .venv/bin/python perf/view_latency.py --out runs/perf/view_latency.json [--preload]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from looptool.jsonl import write_json_atomic, write_jsonl
from looptool.logs import setup_logging
from looptool.loop.records import IterationSummary, LoopMode, RunReport
from looptool.schema import Lineage, Message, Role, Sample, ToolCall, ToolSpec
from looptool.traces import TRACE_FILE, TRACE_SCHEMA_VERSION, TraceStore

log = logging.getLogger("perf.view_latency")

#: When a user asks for a first sample page, counted from the start of ``looptool view``.
USER_PAUSE_S = 6.0
TOOLS = [ToolSpec(name=f"tool_{n}", description=f"Tool number {n}.",
                  parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
         for n in range(4)]


def _sample(template: dict[str, Any], sample_id: str, n: int, origin: str = "seed", parent: str | None = None,
            iteration: int = 0) -> dict[str, Any]:
    data = dict(template)
    data["id"] = sample_id
    data["context"] = [{"role": "user", "content": f"Request {n}: what is the weather in city {n}? " + "x" * 200}]
    data["label_calls"] = [{"name": f"tool_{n % 4}", "arguments": {"city": f"city {n}"}}]
    data["lineage"] = {"origin": origin, "parent_id": parent, "iteration": iteration, "stage": origin,
                       "notes": [], "source_item": f"item-{n}", "dialogue_id": f"dlg-{n:06d}"}
    return data


def synthesize(run: Path, samples: int, steps: int) -> dict[str, int]:
    """A loop run with ``samples`` distinct sample ids and ``steps`` trace events."""
    template = Sample(id="t", tools=TOOLS, context=[Message(role=Role.USER, content="t")],
                      label_calls=[ToolCall(name="tool_0", arguments={"city": "x"})],
                      lineage=Lineage()).model_dump(mode="json")
    heldout, relabels, expansions = samples // 20, samples // 20, samples // 5
    seeds = samples - heldout - relabels - expansions
    seed = [_sample(template, f"s{n}", n) for n in range(seeds)]
    write_jsonl(run / "seed" / "train.jsonl", seed)
    write_jsonl(run / "seed" / "heldout.jsonl", [_sample(template, f"h{n}", n) for n in range(heldout)])
    (run / "seed.done").write_text('{"stage": "seed", "seconds": 1.0, "finished_at": "2026-12-01T00:00:00+00:00"}')
    data = seed[: seeds // 3]
    made = {"relabels": 0, "expansions": 0}
    for iteration in (1, 2):
        folder = run / "loop" / f"iter_{iteration}"
        for stage in ("probe", "judge", "expand", "compose"):
            (folder / stage).mkdir(parents=True, exist_ok=True)
            (run / "loop" / f"iter_{iteration}" / f"{stage}.done").write_text(
                json.dumps({"stage": f"loop/iter_{iteration}/{stage}", "seconds": 10.0,
                            "finished_at": "2026-12-01T00:00:00+00:00"}))
        write_jsonl(folder / "data.jsonl", data)
        probes, verdicts, new_relabels, new_expansions = [], [], [], []
        for n, sample in enumerate(data):
            matched = n % 3 == 0
            probes.append({"sample_id": sample["id"], "completion": "<tool_call>{}</tool_call>",
                           "predicted_calls": [], "matched": matched, "perplexity": 1.0 + n % 7})
            if matched:
                continue
            relabel = n % 2 == 1 and made["relabels"] < relabels
            record: dict[str, Any] = {"sample_id": sample["id"], "verdict": "LABEL_WRONG" if relabel else "PRED_WRONG",
                                      "decided_by": "panel", "analysis": "the label is wrong" if relabel else "",
                                      "action": "relabeled" if relabel else "error_seed", "sample": sample}
            if relabel:
                new = _sample(template, f"{sample['id']}~lr{iteration}", n, "relabeled", sample["id"], iteration)
                new["metadata"] = {"relabel": {"label_calls": sample["label_calls"], "verdict": "LABEL_WRONG",
                                               "analysis": "the label is wrong", "iteration": iteration}}
                record.update(new_sample_id=new["id"], sample=new)
                new_relabels.append(new)
                made["relabels"] += 1
            verdicts.append(record)
            for k in range(2):
                if made["expansions"] < expansions:
                    new_expansions.append(_sample(template, f"{sample['id']}-x{iteration}{k}", n, "expanded",
                                                  sample["id"], iteration))
                    made["expansions"] += 1
        write_jsonl(folder / "probe" / "probe.jsonl", probes)
        write_jsonl(folder / "judge" / "verdicts.jsonl", verdicts)
        write_jsonl(folder / "expand" / "expansions.jsonl", new_expansions)
        data = [*new_relabels, *new_expansions, *seed[seeds // 3: seeds // 3 + len(data) // 4]]
        write_jsonl(folder / "compose" / "next.jsonl", data)
        write_json_atomic(folder / "iteration.json", IterationSummary(
            mode=LoopMode.LOOP, iteration=iteration, probed=len(probes), heldout_accuracy=0.3 + 0.1 * iteration,
            tokens_by_role={"judge": 10_000 * iteration}).model_dump(mode="json"))
    write_json_atomic(run / "run_report.json", RunReport(run_dir=str(run), base_heldout_accuracy=0.3).model_dump(mode="json"))
    TraceStore.for_run(run).close()  # the schema, then bulk rows
    import sqlite3

    connection = sqlite3.connect(run / TRACE_FILE)
    per_trace = 10
    traces = steps // per_trace
    connection.executemany(
        "INSERT INTO traces (trace_id, kind, status, started_at, ended_at, metadata) VALUES (?, ?, ?, ?, ?, ?)",
        [(f"jglv:1:s{n}", "jglv", "LABEL_WRONG" if n % 2 else "PRED_WRONG", 1.0, 2.0, json.dumps({"sample_id": f"s{n}"}))
         for n in range(traces)])
    connection.executemany(
        "INSERT INTO events (trace_id, seq, kind, node, role, started_at, ended_at, latency_s, prompt_tokens, "
        "completion_tokens, content, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(f"jglv:1:s{n}", seq, "llm_call" if seq % 2 else "verdict", "label_judge", "judge", 1.0, 1.5, 0.5, 300, 40,
          f"step {seq} of trace {n}: " + "y" * 300, json.dumps({"reason": "because"}))
         for n in range(traces) for seq in range(1, per_trace + 1)])
    connection.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(TRACE_SCHEMA_VERSION),))
    connection.commit()
    connection.close()
    return {"seed": seeds, "heldout": heldout, **made, "traces": traces, "steps": traces * per_trace}


def _get(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        body = response.read()
    return time.perf_counter() - started, len(body)


def _memory(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {key: int(re.search(rf"{key}:\s+(\d+)", status).group(1)) // 1024 for key in ("VmRSS", "VmHWM")}  # type: ignore[union-attr]


def _machine() -> str:
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    memory = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    gib = int(memory.group(1)) / 2**20 if memory else 0
    return (f"{cpu.group(1).strip() if cpu else platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
            f"{gib:.0f} GiB, Python {platform.python_version()}")


def measure(run: Path, preload: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "looptool.cli", "--log-level", "WARNING", "view", str(run),
               *(["--preload"] if preload else [])]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    ready = time.perf_counter() - started
    base = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)  # type: ignore[union-attr]
    try:
        results: dict[str, Any] = {"startup_s": round(ready, 3)}
        for name, path in (("overview_cold", "/run/0/"), ("sample_cold", "/run/0/sample/s5~lr1"),
                           ("sample_warm", "/run/0/sample/s1"), ("samples_filtered", "/run/0/samples?origin=relabeled"),
                           ("composition", "/run/0/composition"), ("trace", "/run/0/trace/traces.sqlite/jglv%3A1%3As7"),
                           ("traces_list", "/run/0/traces"), ("overview_warm", "/run/0/")):
            seconds, size = _get(base + path)
            results[f"{name}_s"] = round(seconds, 3)
            results[f"{name}_bytes"] = size
        results["time_to_first_page_s"] = round(ready + results["overview_cold_s"], 3)
        time.sleep(max(0.0, USER_PAUSE_S - (time.perf_counter() - started)))  # a user reading the overview
        seconds, _size = _get(base + "/run/0/sample/s7~lr1")
        results[f"sample_{USER_PAUSE_S:.0f}s_after_start_s"] = round(seconds, 3)
        results["memory_mib"] = _memory(process.pid)
        return results
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000, help="distinct samples in the synthetic run")
    parser.add_argument("--steps", type=int, default=50_000, help="trace events in its trace store")
    parser.add_argument("--preload", action="store_true", help="also measure with looptool view --preload")
    parser.add_argument("--out", type=Path, help="JSON file for the results")
    args = parser.parse_args()
    setup_logging("INFO")
    with tempfile.TemporaryDirectory(prefix="view-latency-") as folder:
        run = Path(folder) / "run"
        started = time.perf_counter()
        counts = synthesize(run, args.samples, args.steps)
        log.info("synthesized %s in %.1f s", counts, time.perf_counter() - started)
        size = sum(path.stat().st_size for path in run.rglob("*") if path.is_file())
        results: dict[str, Any] = {"counts": counts, "run_mib": round(size / 2**20, 1),
                                   "machine": _machine(),
                                   "background": measure(run, preload=False)}
        if args.preload:
            results["preload"] = measure(run, preload=True)
    text = json.dumps(results, indent=2)
    sys.stdout.write(text + "\n")
    if args.out:
        write_json_atomic(args.out, results)


if __name__ == "__main__":
    main()
