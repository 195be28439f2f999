"""The pipeline's orchestration: stage order, resume, and a clear stop when synthesis keeps
nothing. The stages themselves (vLLM, LangGraph, TRL, checkers) are replaced by recorders
here; each has its own tests, and `make smoke` runs them together for real."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest

import looptool.graphs.dialogue.run as dialogue_run
import looptool.loop.pipeline as pipeline
import looptool.training.trainer as trainer
from looptool.config import load_config
from looptool.jsonl import write_jsonl
from looptool.rundir import RunDir
from looptool.schema import Message, Role, Sample, ToolCall, load_tool_spec

TOOL = {"name": "add", "description": "Add.", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}


class Recorder:
    def __init__(self, tmp_path: Path, samples: int) -> None:
        self.events: list[str] = []
        self.samples = samples
        self.model_dir = tmp_path / "model"
        (self.model_dir).mkdir()
        (self.model_dir / "config.json").write_text("{}")
        (self.model_dir / "model.safetensors").write_bytes(b"")

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        recorder = self

        @contextmanager
        def serving(config, model_path, log_path):
            recorder.events.append(f"serve:{Path(model_path).name}")
            yield "http://127.0.0.1:1/v1"
            recorder.events.append("stop")

        class Report:
            def describe(self) -> str:
                return "report"

        def synthesize(config, run_dir, *, n, progress):
            recorder.events.append(f"synth:{n}")
            samples = [
                Sample(
                    id=f"s{i}",
                    tools=[load_tool_spec(TOOL)],
                    context=[Message(role=Role.USER, content="1+1?")],
                    label_calls=[ToolCall(name="add", arguments={"a": 1})],
                )
                for i in range(recorder.samples)
            ]
            write_jsonl(run_dir / "samples.jsonl", samples)
            write_jsonl(run_dir / "dialogues.jsonl", [{"id": "d0"}, {"id": "d1"}])
            write_jsonl(run_dir / "rejects.jsonl", [{"id": "d1"}])
            return Report()

        def train(job):
            recorder.events.append(f"train:{job.data.name}")
            return None

        monkeypatch.setattr(pipeline, "_serving", serving)
        monkeypatch.setattr(dialogue_run, "run_dialogue_synthesis", synthesize)
        monkeypatch.setattr(trainer, "run_training", train)
        monkeypatch.setattr(pipeline, "_evaluate", lambda config, eval_dir, label, url, ckpt: recorder.events.append(f"eval:{label}"))
        monkeypatch.setattr(pipeline, "_record_training", lambda report, train_dir: str(recorder.model_dir))
        monkeypatch.setattr(pipeline, "_write_results", lambda eval_dir: eval_dir / "results.json")


def config_for(tmp_path: Path):
    return load_config(None, [f"model.path={tmp_path / 'model'}", "pipeline.dialogues=2"])


def test_stages_run_in_order_and_a_rerun_skips_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(tmp_path, samples=1)
    recorder.install(monkeypatch)
    run = RunDir.create(config_for(tmp_path), tmp_path / "run")
    report = pipeline.run_pipeline(config_for(tmp_path), run)
    assert recorder.events == [
        "serve:model", "synth:2", "eval:base", "stop", "train:samples.jsonl",
        "serve:model", "eval:grpo", "stop",
    ]
    assert (report.samples, report.dialogues, report.rejects) == (1, 2, 1)
    assert all(run.is_done(stage) for stage in pipeline.STAGES)
    assert (run.path / "pipeline_report.json").is_file()
    assert [(timing.stage, timing.skipped) for timing in report.stages] == [
        (stage, False) for stage in pipeline.STAGES
    ]
    for stage in pipeline.STAGES:  # each done marker records the stage's wall time
        record = run.stage(stage).record()
        assert record is not None and record.seconds is not None and record.seconds >= 0

    recorder.events.clear()
    again = pipeline.run_pipeline(config_for(tmp_path), run)
    assert recorder.events == []  # no server, no model call, no training
    assert [stage.skipped for stage in again.stages] == [True, True]


def test_a_killed_run_resumes_at_the_unfinished_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(tmp_path, samples=1)
    recorder.install(monkeypatch)
    run = RunDir.create(config_for(tmp_path), tmp_path / "run")

    def killed(job):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "run_training", killed)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_pipeline(config_for(tmp_path), run)
    assert run.is_done("synth") and run.is_done("eval_base") and not run.is_done("train")
    assert not (run.path / "train.done").exists()

    recorder.install(monkeypatch)
    recorder.events.clear()
    pipeline.run_pipeline(config_for(tmp_path), run)
    assert recorder.events == ["train:samples.jsonl", "serve:model", "eval:grpo", "stop"]


def test_no_samples_stops_before_training_and_names_the_rejects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(tmp_path, samples=0)
    recorder.install(monkeypatch)
    run = RunDir.create(config_for(tmp_path), tmp_path / "run")
    with pytest.raises(pipeline.PipelineError, match=r"kept no samples \(1 dialogue\(s\) rejected.*rejects.jsonl"):
        pipeline.run_pipeline(config_for(tmp_path), run)
    assert not any(event.startswith("train") for event in recorder.events)
    assert run.is_done("synth")  # the synthesized dialogues are kept


def test_unknown_pipeline_key_is_refused(tmp_path: Path) -> None:
    from looptool.config import ConfigError

    with pytest.raises(ConfigError, match="pipeline.dialogs"):
        load_config(None, ["pipeline.dialogs=3"])
