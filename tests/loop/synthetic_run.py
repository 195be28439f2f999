"""A small synthetic loop run folder (two iterations of ``loop`` and ``static``) for the
report, lineage and export tests.

Story of the ``loop`` mode:

* seed: s1, s2, s3 trained on in iteration 1; s4 a fresh seed sample; h1 held out.
* iteration 1: s1 mastered (high perplexity), s2 PRED_WRONG (error seed), s3 LABEL_WRONG,
  relabeled as s3.r1 (the old label kept in its lineage notes); EDDE expands s2 into s2.e1;
  D_2 = s2, s3.r1, s2.e1, s1, s4.
* iteration 2: s2.e1 BOTH_WRONG (dropped); EDDE has no error seed, so expand warns.
"""

from __future__ import annotations

from pathlib import Path

from looptool.jsonl import write_json_atomic, write_jsonl
from looptool.loop.records import (
    ExpansionRecord,
    IterationSummary,
    JudgeRecord,
    LoopMode,
    ProbeRecord,
    RunReport,
    StageTime,
    Verdict,
)
from looptool.schema import Lineage, Message, OriginKind, Role, Sample, ToolCall, ToolSpec

WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather of a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
EXPAND_WARNING = "expand: no error seeds, nothing to expand"


def sample(sample_id: str, city: str = "Paris", *, text: str | None = None, **lineage: object) -> Sample:
    label = {"label_text": text} if text is not None else {"label_calls": [ToolCall(name="get_weather", arguments={"city": city})]}
    return Sample(
        id=sample_id,
        tools=[WEATHER],
        context=[Message(role=Role.USER, content=f"Weather in {city}?")],
        lineage=Lineage.model_validate(lineage),
        **label,
    )


def summary(mode: LoopMode, iteration: int, **fields: object) -> IterationSummary:
    return IterationSummary.model_validate({"mode": mode, "iteration": iteration, **fields})


def write_run(root: Path, *, with_run_report: bool = True) -> Path:
    """Write the run folder under ``root/run`` and return it. Without ``with_run_report`` the
    run looks interrupted: only the ``iteration.json`` files exist."""
    run = root / "run"
    s1, s2 = sample("s1", "Paris"), sample("s2", "Rome")
    s3, s4 = sample("s3", "Oslo"), sample("s4", "Lima")
    heldout = sample("h1", "Kyiv")
    write_jsonl(run / "seed" / "train.jsonl", [s1, s2, s3, s4])
    write_jsonl(run / "seed" / "heldout.jsonl", [heldout])

    # -- loop, iteration 1
    it1 = run / "loop" / "iter_1"
    write_jsonl(it1 / "data.jsonl", [s1, s2, s3])
    write_jsonl(it1 / "probe" / "probe.jsonl", [
        ProbeRecord(sample_id="s1", completion="ok", matched=True, perplexity=3.5),
        ProbeRecord(sample_id="s2", completion="bad", matched=False, perplexity=1.2),
        ProbeRecord(sample_id="s3", completion="Bergen", matched=False, perplexity=1.1),
    ])
    relabeled = sample("s3.r1", "Bergen", origin=OriginKind.RELABELED, parent_id="s3", iteration=1,
                       stage="judge", notes=['old label: get_weather({"city": "Oslo"})'])
    write_jsonl(it1 / "judge" / "verdicts.jsonl", [
        JudgeRecord(sample_id="s2", verdict=Verdict.PRED_WRONG, decided_by="panel", action="error_seed"),
        JudgeRecord(sample_id="s3", verdict=Verdict.LABEL_WRONG, decided_by="execution", action="relabeled",
                    new_sample_id="s3.r1", analysis="the user asked for Bergen"),
    ])
    expansion = sample("s2.e1", "Turin", origin=OriginKind.EXPANDED, parent_id="s2", iteration=1, stage="expand",
                       notes=["generator llm"])
    write_jsonl(it1 / "expand" / "expansions.jsonl", [expansion])
    write_jsonl(it1 / "expand" / "records.jsonl", [
        ExpansionRecord(seed_id="s2", generator="llm", asked=2, produced=2, accepted_ids=["s2.e1"],
                        rejected=["duplicate of s2"]),
    ])
    error_seed = s2.model_copy(update={"lineage": Lineage(origin=OriginKind.PREDICTION_WRONG, iteration=1,
                                                          stage="judge")})
    high_ppl = s1.model_copy(update={"lineage": Lineage(origin=OriginKind.HIGH_PPL, iteration=1, stage="probe")})
    next_data = [error_seed, relabeled, expansion, high_ppl, s4]
    write_jsonl(it1 / "compose" / "next.jsonl", next_data)
    loop1 = summary(
        LoopMode.LOOP, 1, trained_on=3, train_steps=4, probed=3, mastered=1, mismatched=2, high_ppl=1,
        verdicts={"PRED_WRONG": 1, "LABEL_WRONG": 1}, decided_by_execution=1, relabeled=1, error_seeds=2,
        expansions_asked=2, expansions_accepted=1, expansion_yield_by_generator={"llm": 0.5}, next_size=5,
        next_counts={"error_seeds": 2, "expansions": 1, "high_ppl": 1, "fresh": 1}, heldout_accuracy=0.5,
        benchmark_accuracy={"bfcl_v3": 0.30},
        stage_times=[StageTime(stage="train", seconds=12.0), StageTime(stage="probe", seconds=3.0),
                     StageTime(stage="judge", seconds=4.5), StageTime(stage="expand", seconds=6.0)],
        tokens_by_role={"judge": 1200, "generator": 3400},
    )
    write_json_atomic(it1 / "iteration.json", loop1.model_dump(mode="json"))

    # -- loop, iteration 2
    it2 = run / "loop" / "iter_2"
    write_jsonl(it2 / "data.jsonl", next_data)
    write_jsonl(it2 / "probe" / "probe.jsonl", [
        ProbeRecord(sample_id=item.id, completion="", matched=item.id != "s2.e1", perplexity=1.0)
        for item in next_data
    ])
    write_jsonl(it2 / "judge" / "verdicts.jsonl", [
        JudgeRecord(sample_id="s2.e1", verdict=Verdict.BOTH_WRONG, decided_by="panel", action="dropped"),
    ])
    loop2 = summary(
        LoopMode.LOOP, 2, trained_on=5, probed=5, mastered=4, mismatched=1, verdicts={"BOTH_WRONG": 1},
        heldout_accuracy=0.75, benchmark_accuracy={"bfcl_v3": 0.35}, warnings=[EXPAND_WARNING],
        stage_times=[StageTime(stage="train", seconds=14.0), StageTime(stage="expand", seconds=0.0, skipped=True)],
        tokens_by_role={"judge": 300},
    )
    write_json_atomic(it2 / "iteration.json", loop2.model_dump(mode="json"))

    # -- static baseline
    for iteration, accuracy in ((1, 0.45), (2, 0.5)):
        folder = run / "static" / f"iter_{iteration}"
        write_jsonl(folder / "data.jsonl", [s1, s2, s3] if iteration == 1 else [s4, s1, s2])
        static = summary(LoopMode.STATIC, iteration, trained_on=3, heldout_accuracy=accuracy,
                         benchmark_accuracy={"bfcl_v3": 0.28 + 0.01 * iteration},
                         stage_times=[StageTime(stage="train", seconds=11.0)])
        write_json_atomic(folder / "iteration.json", static.model_dump(mode="json"))

    if with_run_report:
        statics = [
            IterationSummary.model_validate_json((run / "static" / f"iter_{j}" / "iteration.json").read_text())
            for j in (1, 2)
        ]
        report = RunReport(
            run_dir=str(run), seed_counts={"curated": 3, "imported": 1}, heldout_size=1,
            base_heldout_accuracy=0.25, base_benchmark_accuracy={"bfcl_v3": 0.2},
            iterations=[loop1, statics[0], statics[1]],  # loop iter 2 only in its iteration.json
        )
        write_json_atomic(run / "run_report.json", report.model_dump(mode="json"))
    return run
