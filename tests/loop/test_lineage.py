"""A sample's history across a run: seed, iterations, probe, judge, relabel, expansions,
the parent chain, and the did-you-mean on an unknown id."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from looptool.jsonl import write_jsonl
from looptool.loop.lineage import (
    LineageStep,
    RunIndex,
    StepKind,
    UnknownSampleError,
    render_history,
    sample_history,
)
from looptool.loop.records import LoopMode, Verdict
from looptool.schema import OriginKind

from .synthetic_run import sample, write_run


def steps_of(steps: list[LineageStep], kind: StepKind, sample_id: str | None = None) -> list[LineageStep]:
    return [step for step in steps if step.kind is kind and (sample_id is None or step.sample_id == sample_id)]


def test_relabeled_sample_shows_its_origin_its_use_and_its_parent(tmp_path: Path) -> None:
    steps = sample_history(write_run(tmp_path), "s3.r1")
    origin = steps[0]
    assert origin.kind is StepKind.ORIGIN and origin.origin is OriginKind.RELABELED
    assert origin.related_id == "s3" and any("old label" in note for note in origin.notes)
    composed = steps_of(steps, StepKind.COMPOSED, "s3.r1")
    assert [(step.mode, step.iteration) for step in composed] == [(LoopMode.LOOP, 1)]
    trained = steps_of(steps, StepKind.TRAINED_ON, "s3.r1")
    assert [(step.mode, step.iteration) for step in trained] == [(LoopMode.LOOP, 2)]
    probe = steps_of(steps, StepKind.PROBED, "s3.r1")[0]
    assert probe.matched is True and probe.perplexity == 1.0
    parent = steps_of(steps, StepKind.PARENT)[0]
    assert parent.sample_id == "s3" and parent.depth == 1
    judged = steps_of(steps, StepKind.JUDGED, "s3")[0]
    assert judged.verdict is Verdict.LABEL_WRONG and judged.action == "relabeled" and judged.depth == 1
    relabel = steps_of(steps, StepKind.RELABELED_AS, "s3")
    assert len(relabel) == 1
    assert '"Oslo"' in relabel[0].summary and '"Bergen"' in relabel[0].summary  # old -> new label


def test_error_seed_history_lists_its_expansion_child_and_every_mode(tmp_path: Path) -> None:
    steps = sample_history(write_run(tmp_path), "s2")
    assert steps_of(steps, StepKind.SEED)
    judged = steps_of(steps, StepKind.JUDGED)
    assert [(step.verdict, step.action) for step in judged] == [(Verdict.PRED_WRONG, "error_seed")]
    child = steps_of(steps, StepKind.EXPANDED_INTO)
    assert [(step.related_id, step.mode, step.iteration) for step in child] == [("s2.e1", LoopMode.LOOP, 1)]
    trained = {(step.mode, step.iteration) for step in steps_of(steps, StepKind.TRAINED_ON)}
    assert trained == {(LoopMode.LOOP, 1), (LoopMode.LOOP, 2), (LoopMode.STATIC, 1), (LoopMode.STATIC, 2)}
    composed = steps_of(steps, StepKind.COMPOSED)[0]
    assert composed.origin is OriginKind.PREDICTION_WRONG
    assert not steps_of(steps, StepKind.PARENT)


def test_expansion_follows_its_parent_chain(tmp_path: Path) -> None:
    steps = sample_history(write_run(tmp_path), "s2.e1")
    judged = steps_of(steps, StepKind.JUDGED, "s2.e1")[0]
    assert judged.verdict is Verdict.BOTH_WRONG and judged.iteration == 2
    assert {step.sample_id for step in steps if step.depth == 1} == {"s2"}


def test_history_is_bounded_and_survives_a_cycle(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    chain = [sample("c0")] + [sample(f"c{index}", parent_id=f"c{index - 1}") for index in range(1, 5)]
    loop = [sample("x", parent_id="y"), sample("y", parent_id="x")]
    write_jsonl(run / "seed" / "train.jsonl", chain + loop)
    short = sample_history(run, "c4", max_depth=2)
    assert max(step.depth for step in short) == 3
    assert "not followed" in steps_of(short, StepKind.PARENT)[-1].summary
    cyclic = sample_history(run, "x")
    assert "cycle" in steps_of(cyclic, StepKind.PARENT)[-1].summary


def test_unknown_id_suggests_close_ones(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    with pytest.raises(UnknownSampleError, match=r"did you mean 's2\.e1'"):
        sample_history(run, "s2.e2")
    with pytest.raises(UnknownSampleError, match="holds 7 sample ids"):
        sample_history(run, "zzzzzz")


def test_one_index_answers_many_queries(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    index = RunIndex.load(run)
    assert "h1" in index.known_ids
    heldout = sample_history(run, "h1", index=index)
    assert [step.kind for step in heldout] == [StepKind.ORIGIN, StepKind.HELDOUT]


def test_render_history_draws_a_tree(tmp_path: Path) -> None:
    steps = sample_history(write_run(tmp_path), "s3.r1")
    console = Console(record=True, width=200)
    render_history(steps, console, "s3.r1")
    text = console.export_text()
    assert text.startswith("s3.r1")
    assert "loop iteration 2" in text and "parent s3" in text and "LABEL_WRONG" in text
    assert text.index("parent s3") < text.index("relabeled as s3.r1")
