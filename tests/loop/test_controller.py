"""The loop end to end with scripted models and the tiny random policy (real TRL training):
every verdict path, expansions with their rejections, the held-out guard, composition counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from looptool.config import load_config
from looptool.jsonl import read_jsonl
from looptool.loop.records import IterationSummary, JudgeRecord
from looptool.loop.seed.imported import import_openai_jsonl
from looptool.loop.seed.split import split_heldout
from looptool.loop.verify import RELABEL_KEY
from looptool.rundir import RunDir
from looptool.schema import OriginKind, Sample
from looptool.traces import TraceStore
from tests.loop.fakes import SPECIAL, ScriptedLoopRunner, last_word, write_seed_file

FILLERS = 9


def split_seed(path: Path) -> int:
    """A split seed that keeps the three special requests in training and holds a filler out."""
    samples = import_openai_jsonl([path]).samples
    for seed in range(200):
        held = {last_word(s.context[-1].content) for s in split_heldout(samples, 0.2, seed).heldout}
        if held and not held & set(SPECIAL):
            return seed
    raise AssertionError("no split seed keeps the special requests in training")


def overrides(model: Path, data: Path, seed: int, iterations: int) -> list[str]:
    return [
        f"model.path={model}",
        "seed.sources.curated.enabled=false", f"seed.sources.imported=[{data}]",
        "seed.demonstrations=0", "seed.heldout_fraction=0.2", f"seed.seed={seed}",
        f"loop.iterations={iterations}", "loop.budget=12", "loop.evaluate_benchmarks=false", "loop.progress=false",
        "loop.probe.high_ppl_top_fraction=0.5",
        "jglv.execution_evidence=false", "edde.generator=llm", "edde.k=5",
        "dialogue_synth.validation.judge=false",
        "train.mode=full", "train.max_steps=1", "train.num_generations=2", "train.prompts_per_step=2",
        "train.max_completion_tokens=8", "train.max_prompt_tokens=512", "train.device=cpu", "train.bf16=false",
        "train.save_steps=1", "train.rewards=[tool_match]",
    ]


def run_loop(tmp_path: Path, model: Path, iterations: int) -> tuple[ScriptedLoopRunner, Path]:
    data = write_seed_file(tmp_path / "seed.jsonl", FILLERS)
    config = load_config(None, overrides(model, data, split_seed(data), iterations))
    run = RunDir.create(config, tmp_path / "run")

    def heldout_word() -> str:
        heldout = read_jsonl(run.path / "seed" / "heldout.jsonl", Sample)
        return last_word(heldout[0].context[-1].content)

    runner = ScriptedLoopRunner(config, run, heldout_word=heldout_word)
    runner.run_all()
    return runner, run.path


@pytest.mark.slow
def test_one_iteration_end_to_end_with_every_verdict_path(tmp_path: Path, tiny_model_dir: Path) -> None:
    runner, run = run_loop(tmp_path, tiny_model_dir, iterations=2)
    it1 = run / "loop" / "iter_1"
    summary = IterationSummary.model_validate_json((it1 / "iteration.json").read_text())
    verdicts = {r.sample_id: r for r in read_jsonl(it1 / "judge" / "verdicts.jsonl", JudgeRecord)}
    by_word = {last_word(r.sample.context[-1].content) if r.sample else "": r for r in verdicts.values()}
    assert summary.mismatched == 3 and summary.probed == summary.trained_on
    assert summary.verdicts == {"PRED_WRONG": 1, "LABEL_WRONG": 1, "BOTH_WRONG": 1}
    assert {r.action for r in verdicts.values()} == {"error_seed", "relabeled", "dropped"}

    nxt = read_jsonl(run / "loop" / "iter_2" / "data.jsonl", Sample)
    ids = {s.id for s in nxt}
    assert len(ids) == len(nxt)  # no sample id twice
    relabeled = [s for s in nxt if s.lineage.origin == OriginKind.RELABELED]
    assert len(relabeled) == 1
    assert relabeled[0].label_calls[0].arguments == {"word": "label-wrong"}
    assert relabeled[0].metadata[RELABEL_KEY]["label_calls"][0]["arguments"] == {"word": "lable-wrong"}
    both_wrong_id = next(r.sample_id for r in verdicts.values() if r.action == "dropped")
    assert both_wrong_id not in ids
    assert by_word["pred-wrong"].action == "error_seed"

    expansions = [s for s in nxt if s.lineage.origin == OriginKind.EXPANDED]
    seeds = {r.sample_id for r in verdicts.values() if r.action == "error_seed"} | {s.id for s in relabeled}
    assert expansions and all(s.lineage.parent_id in seeds for s in expansions)
    words = {last_word(s.context[-1].content) for s in expansions}
    assert "gen-one" in words and "gen-two" in words
    assert "gen-three" not in words and "gen-four" not in words  # schema-invalid, ungrounded
    assert summary.heldout_duplicates_removed == 2  # one per error seed
    heldout_ids = {s.id for s in read_jsonl(run / "seed" / "heldout.jsonl", Sample)}
    assert not ids & heldout_ids

    counts = summary.next_counts
    assert counts["error_seeds"] == 2 and counts["expansions"] == len(expansions)
    assert counts["high_ppl"] == summary.high_ppl >= 1
    assert sum(counts.values()) == len(nxt) == summary.next_size <= 12
    assert summary.expansions_accepted == len(expansions) and summary.expansions_asked == 10
    assert (run / "loop" / "iter_2" / "iteration.json").exists()
    assert (run / "run_report.json").exists() and len(runner.trained) == 2

    # every judge and expansion episode is in the run's trace store, for `looptool traces` / `view`
    with TraceStore.for_run(run, readonly=True) as store:
        kinds = {info.kind for info in store.traces()}
        judged = {info.trace_id for info in store.traces() if info.trace_id.startswith("jglv:1:")}
    assert kinds == {"jglv", "edde"}
    assert {f"jglv:1:{r.sample_id}" for r in verdicts.values() if r.decided_by != "execution"} <= judged


@pytest.mark.slow
def test_a_rerun_repeats_no_finished_model_call(tmp_path: Path, tiny_model_dir: Path) -> None:
    runner, run = run_loop(tmp_path, tiny_model_dir, iterations=1)
    first_calls = len(runner.judge_model.calls) + len(runner.generator_model.calls) + len(runner.probed_words)
    assert first_calls > 0
    config = load_config(run / "config.yaml")
    again = ScriptedLoopRunner(config, RunDir(run), heldout_word=lambda: "unused")
    again.run_all()
    assert again.trained == [] and again.probed_words == []
    assert again.judge_model.calls == [] and again.generator_model.calls == []




def _calls(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _start_killed_run(tmp_path: Path, model: Path, stage: str) -> tuple[Path, Path]:
    """Set up a 1-iteration run, run it in a subprocess that blocks in ``stage``, SIGKILL it there."""
    import os
    import signal
    import subprocess
    import sys
    import time

    tmp_path.mkdir(parents=True, exist_ok=True)
    data = write_seed_file(tmp_path / "seed.jsonl", FILLERS)
    extra = ["loop.probe.concurrency=1", "loop.judge_concurrency=1", "loop.expand_concurrency=1"]
    config = load_config(None, overrides(model, data, split_seed(data), 1) + extra)
    run = RunDir.create(config, tmp_path / "run")
    calls, marker = tmp_path / "calls.log", tmp_path / "hung"
    env = {**os.environ, "LOOPTOOL_TEST_HANG_AT": stage, "LOOPTOOL_TEST_HANG_MARKER": str(marker),
           "LOOPTOOL_TEST_CALL_LOG": str(calls)}
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen([sys.executable, "-m", "tests.loop.fakes", str(run.path)], cwd=root, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"the run ended before blocking in {stage}: {process.stderr.read()[-2000:]!r}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the run never reached {stage}")
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    return run.path, calls


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["train", "probe", "judge", "expand"])
def test_killed_in_a_stage_the_rerun_ends_as_an_uninterrupted_run(
    tmp_path: Path, tiny_model_dir: Path, stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.loop.fakes import heldout_word_of

    killed_run, calls = _start_killed_run(tmp_path / "killed", tiny_model_dir, stage)
    before = _calls(calls)
    assert (killed_run / "loop" / "iter_1" / "compose.done").exists() is False
    monkeypatch.setenv("LOOPTOOL_TEST_CALL_LOG", str(calls))
    config = load_config(killed_run / "config.yaml")
    ScriptedLoopRunner(config, RunDir(killed_run), heldout_word=heldout_word_of(killed_run)).run_all()
    after = _calls(calls)[len(before):]

    clean_calls = tmp_path / "clean-calls.log"
    monkeypatch.setenv("LOOPTOOL_TEST_CALL_LOG", str(clean_calls))
    clean = RunDir.create(config, tmp_path / "clean")
    ScriptedLoopRunner(config, clean, heldout_word=heldout_word_of(clean.path)).run_all()

    def dataset(run: Path) -> list[str]:
        return [s.model_dump_json() for s in read_jsonl(run / "loop" / "iter_1" / "compose" / "next.jsonl", Sample)]

    assert dataset(killed_run) == dataset(clean.path)
    finished_before = [line for line in before[:-1] if line.startswith(stage)] if stage != "train" else []
    assert not set(finished_before) & set(after), "a finished item was sent again after the kill"
    assert sorted(before[:-1] + after) == sorted(_calls(clean_calls))  # only the in-flight call repeats


@pytest.mark.slow
def test_training_through_a_launcher_subprocess(tmp_path: Path, tiny_model_dir: Path) -> None:
    from tests.loop.fakes import heldout_word_of

    data = write_seed_file(tmp_path / "seed.jsonl", FILLERS)
    config = load_config(None, overrides(tiny_model_dir, data, split_seed(data), 1) + ['loop.train_launcher=["python"]'])
    run = RunDir.create(config, tmp_path / "run")
    runner = ScriptedLoopRunner(config, run, heldout_word=heldout_word_of(run.path))
    runner.run_all()
    report = (run.path / "loop" / "iter_1" / "train" / "train_report.json").read_text()
    assert '"steps": 1' in report
    assert IterationSummary.model_validate_json((run.path / "loop" / "iter_1" / "iteration.json").read_text()).probed
