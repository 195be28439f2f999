"""A loop run folder written by a script with the project's own record models: one seed set,
one loop iteration (probe, JGLV with a relabel, EDDE, compose), a trace store with a judge,
an expansion and a dialogue episode, and a benchmark cell. Model-written fields carry
``<script>`` so every page can be checked for escaping."""

from __future__ import annotations

import json
from pathlib import Path

from looptool.agents.label_judge import Verdict
from looptool.benchmarks.base import (
    BenchmarkSummary,
    EntryOutput,
    EntryScore,
    ModelReply,
    SummaryRow,
    TurnOutput,
)
from looptool.jsonl import write_json_atomic, write_jsonl
from looptool.loop.records import (
    ExpansionRecord,
    IterationSummary,
    JudgeRecord,
    LoopMode,
    ProbeRecord,
    RunReport,
    StageTime,
)
from looptool.schema import Lineage, Message, OriginKind, Role, Sample, ToolCall, ToolSpec
from looptool.traces import EventKind, TokenUsage, TraceStore

SCRIPT = "<script>alert('x')</script>"
WEATHER = ToolSpec(name="get_weather", description="Weather of a city.",
                   parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
TIME = ToolSpec(name="get_time", description="Time in a city.",
                parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def sample(sample_id: str, city: str, *, text: str = "", origin: OriginKind = OriginKind.SEED,
           parent: str | None = None, iteration: int = 0, stage: str = "seed", tool: str = "get_weather",
           metadata: dict[str, object] | None = None) -> Sample:
    return Sample(
        id=sample_id, tools=[WEATHER, TIME],
        context=[Message(role=Role.USER, content=text or f"What is the weather in {city}?")],
        label_calls=[ToolCall(name=tool, arguments={"city": city})],
        lineage=Lineage(origin=origin, parent_id=parent, iteration=iteration, stage=stage,
                        dialogue_id="dlg-000001" if origin is OriginKind.SEED else None),
        metadata=metadata or {},
    )


def _done(run: Path, stage: str, seconds: float) -> None:
    write_json_atomic(run / f"{stage}.done", {"stage": stage, "seconds": seconds,
                                              "finished_at": "2026-12-01T10:00:00+00:00", "summary": {}})


def build_run(run: Path, *, report: bool = True) -> Path:
    """Write the run folder; ``report=False`` leaves out ``run_report.json`` (a run in progress)."""
    s1 = sample("s1", "Oslo")
    s2 = sample("s2", "Paris", tool="get_time")
    s3 = sample("s3", "Bergen", text=f"Weather in Bergen? {SCRIPT}")
    held = sample("h1", "Rome")
    relabeled = sample("s3~lr1", "Bergen-new", text=f"Weather in Bergen? {SCRIPT}", origin=OriginKind.RELABELED,
                       parent="s3", iteration=1, stage="jglv",
                       metadata={"relabel": {"label_calls": [{"name": "get_weather", "arguments": {"city": "Bergen"}}],
                                             "label_text": None, "verdict": "LABEL_WRONG",
                                             "analysis": f"the label names the wrong city {SCRIPT}", "iteration": 1}})
    expansion = sample("s2-x1", "Lyon", origin=OriginKind.EXPANDED, parent="s2", iteration=1, stage="edde", tool="get_time")
    (run / "seed").mkdir(parents=True)
    write_jsonl(run / "seed" / "train.jsonl", [s1, s2, s3])
    write_jsonl(run / "seed" / "heldout.jsonl", [held])
    (run / "config.yaml").write_text("run:\n  name: scripted\nroles:\n  judge:\n    api_key: sk-secret\n", encoding="utf-8")
    _done(run, "seed", 1.0)
    iteration = run / "loop" / "iter_1"
    for stage in ("train", "probe", "eval", "judge", "expand", "compose"):
        (iteration / stage).mkdir(parents=True)
        _done(run, f"loop/iter_1/{stage}", 2.5)
    write_jsonl(iteration / "data.jsonl", [s1, s2, s3])
    write_jsonl(iteration / "probe" / "probe.jsonl", [
        ProbeRecord(sample_id="s1", completion="ok", predicted_calls=s1.label_calls, matched=True, perplexity=1.2),
        ProbeRecord(sample_id="s2", completion="Paris is sunny", predicted_text="Paris is sunny", matched=False, perplexity=3.0),
        ProbeRecord(sample_id="s3", completion=f"<tool_call>{SCRIPT}</tool_call>",
                    predicted_calls=[ToolCall(name="get_weather", arguments={"city": "Bergen-new"})], matched=False,
                    perplexity=2.0),
    ])
    write_jsonl(iteration / "judge" / "verdicts.jsonl", [
        JudgeRecord(sample_id="s2", verdict=Verdict.PRED_WRONG, decided_by="panel", analysis="the model did not call a tool",
                    action="error_seed", sample=s2),
        JudgeRecord(sample_id="s3", verdict=Verdict.LABEL_WRONG, decided_by="panel",
                    analysis=f"the label names the wrong city {SCRIPT}", action="relabeled",
                    new_sample_id="s3~lr1", sample=relabeled),
    ])
    write_jsonl(iteration / "expand" / "expansions.jsonl", [expansion])
    write_jsonl(iteration / "expand" / "outcomes.jsonl", [
        ExpansionRecord(seed_id="s2", generator="llm", asked=2, produced=2, accepted_ids=["s2-x1"],
                        rejected=[f"unknown_tool: 'me' is not offered {SCRIPT}"]),
    ])
    write_jsonl(iteration / "compose" / "next.jsonl", [s2, relabeled, expansion])
    write_json_atomic(iteration / "compose" / "composition.json",
                      {"budget": 4, "error_seeds": 2, "expansions": 1, "high_ppl": 0, "fresh": 0})
    summary = IterationSummary(
        mode=LoopMode.LOOP, iteration=1, trained_on=3, probed=3, mastered=1, mismatched=2,
        verdicts={"PRED_WRONG": 1, "LABEL_WRONG": 1}, relabeled=1, error_seeds=2, expansions_asked=2,
        expansions_accepted=1, next_size=3, heldout_accuracy=0.5, benchmark_accuracy={"bfcl_v3": 0.5},
        stage_times=[StageTime(stage="probe", seconds=2.5)], tokens_by_role={"judge": 1200, "generator": 800},
        warnings=[f"a warning {SCRIPT}"],
    )
    write_json_atomic(iteration / "iteration.json", summary.model_dump(mode="json"))
    if report:
        write_json_atomic(run / "run_report.json", RunReport(
            run_dir=str(run), seed_counts={"curated": 3}, heldout_size=1, base_heldout_accuracy=0.25,
            base_benchmark_accuracy={"bfcl_v3": 0.25}, iterations=[summary]).model_dump(mode="json"))
    _traces(run)
    _cell(run)
    return run


def _traces(run: Path) -> None:
    with TraceStore.for_run(run) as store:
        store.start("jglv:1:s3", kind="jglv", metadata={"sample_id": "s3"})
        store.record("jglv:1:s3", EventKind.LLM_CALL, node="label_judge", role="judge",
                     content=f"Verdict: LABEL_WRONG {SCRIPT}",
                     data={"messages_in": [{"role": "user", "content": f"Judge this dialogue {SCRIPT}"}]},
                     usage=TokenUsage(120, 30))
        store.record("jglv:1:s3", EventKind.VERDICT, node="tally", role="tally", content="LABEL_WRONG",
                     data={"reason": "2 of 2 judges: the label is wrong"})
        store.finish("jglv:1:s3", "LABEL_WRONG", metadata={"decided_by": "panel"})
        store.start("edde:1:s2", kind="edde", metadata={"seed_id": "s2", "k": 2})
        store.record("edde:1:s2", EventKind.LLM_CALL, node="generate", role="generator", content="two variants",
                     usage=TokenUsage(200, 90))
        store.record("edde:1:s2", EventKind.VERDICT, node="check", content=f"unknown_tool: 'me' is not offered {SCRIPT}")
        store.finish("edde:1:s2", "done", metadata={"accepted": 1, "rejected": 1})
        store.start("dlg-000001", kind="dialogue", metadata={"index": 1})
        store.record("dlg-000001", EventKind.MESSAGE, node="user", role="user", content="What is the weather in Oslo?")
        store.record("dlg-000001", EventKind.TOOL_CALL, node="tool", role="tool", content="get_weather",
                     data={"arguments": {"city": "Oslo"}})
        store.record("dlg-000001", EventKind.TOOL_RESULT, node="tool", role="tool", content='{"temp": 4}',
                     data={"ok": True, "name": "get_weather"})
        store.finish("dlg-000001", "accepted", metadata={"reason": ""})
        store.start("dlg-000002", kind="dialogue", metadata={"index": 2})
        store.record("dlg-000002", EventKind.VERDICT, node="rules", role="rules", content="missing_call: no tool call")
        store.finish("dlg-000002", "rejected", metadata={"reason": "missing_call: the assistant never called a tool"})


def _cell(run: Path) -> None:
    cell = run / "base" / "eval" / "benchmarks" / "cells" / "base__prompt_hermes" / "bfcl_v3"
    cell.mkdir(parents=True)
    (run / "base" / "eval.done").write_text(json.dumps({"stage": "base/eval", "seconds": 3.0,
                                                        "finished_at": "2026-12-01T10:00:00+00:00"}), encoding="utf-8")
    write_json_atomic(cell / "cell.json", {"request": {"benchmark": "bfcl_v3", "benchmark_version": "2",
                                                       "categories": ["simple"]},
                                           "model": {"label": "base"}, "entries": 1, "outputs": 1, "complete": True})
    write_json_atomic(cell / "summary.json", BenchmarkSummary(benchmark="bfcl_v3", rows=[
        SummaryRow(name="simple", kind="category", score=0.5, count=2)]).model_dump(mode="json"))
    write_jsonl(cell / "scores.jsonl", [
        EntryScore(entry_id="simple_0", category="simple", score=0.0,
                   details={"error_type": "simple_function_checker:wrong_count", "error": [f"Wrong {SCRIPT}"]}),
        EntryScore(entry_id="simple_1", category="simple", score=1.0),
    ])
    write_jsonl(cell / "outputs.jsonl", [
        EntryOutput(entry_id="simple_0", category="simple",
                    turns=[TurnOutput(replies=[ModelReply(text=f"The area is 25 {SCRIPT}", raw=f"The area is 25 {SCRIPT}")])]),
        EntryOutput(entry_id="simple_1", category="simple",
                    turns=[TurnOutput(replies=[ModelReply(raw="[calc(a=1)]", tool_calls=[ToolCall(name="calc", arguments={"a": 1})])])]),
    ])
