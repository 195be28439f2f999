"""The static pipeline: serve -> synthesize seed dialogues -> GRPO-train -> evaluate.

This is the furthest-reaching end-to-end job until the loop controller lands: every stage
is the real component (vLLM server, LangGraph simulation + validation, TRL GRPO, the
official BFCL checker and the ACEBench scorer). Stages write into sub-folders of one run
folder and are stages of the run folder (:meth:`looptool.rundir.RunDir.stage`): each is
marked done (``RUN/<stage>.done``, with its wall time) only when it returns, so rerunning
with ``--out RUN`` resumes at the first stage that is not done::

    RUN/synth/   dialogues, samples (D_1), rejects, traces.sqlite
    RUN/train/   checkpoints, model/ (trained policy), train_report.json
    RUN/eval/    raw outputs per cell, results.json/.csv, chart.png (base vs trained)
    RUN/pipeline_report.json
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, Field

from looptool.config import LoopToolConfig
from looptool.jsonl import read_jsonl, write_json_atomic
from looptool.loop.settings import PipelineSettings
from looptool.rundir import RunDir, RunningStage, Stage
from looptool.schema import Sample

log = logging.getLogger(__name__)

STAGES = ("synth", "eval_base", "train", "eval_trained")


class PipelineError(RuntimeError):
    """A stage cannot go on; finished stages stay in the run folder."""


class StageTiming(BaseModel):
    """One stage in ``pipeline_report.json``: its wall time in this run, or skipped (done earlier)."""

    stage: str
    seconds: float
    skipped: bool = False


class PipelineReport(BaseModel):
    """``pipeline_report.json``: what each stage produced and how long it took."""

    run_dir: str
    dialogues: int = 0
    samples: int = 0
    rejects: int = 0
    trained_model: str | None = None
    train_steps: int = 0
    heldout_accuracy_after: float | None = None
    results: str | None = None
    stages: list[StageTiming] = Field(default_factory=list)


def _pending(report: PipelineReport, stage: Stage) -> bool:
    """Whether ``stage`` must run; a done stage is noted in the report as skipped."""
    if stage.done:
        log.info("stage %s already done; skipping", stage.name)
        report.stages.append(StageTiming(stage=stage.name, seconds=0.0, skipped=True))
        return False
    return True


def _note_timing(report: PipelineReport, timing: RunningStage) -> None:
    report.stages.append(StageTiming(stage=timing.stage.name, seconds=round(timing.seconds or 0.0, 1)))


@contextmanager
def _serving(config: LoopToolConfig, model_path: str, log_path: Path) -> Iterator[str]:
    """A vLLM server for ``model_path`` on the ``serve`` section's port; yields its URL."""
    from looptool.serve import VllmServer

    server = VllmServer.from_settings(
        config.serve, model_path=model_path, served_name=config.model.served_name, log_path=log_path
    )
    with server:
        yield server.base_url


def _evaluate(config: LoopToolConfig, eval_dir: Path, label: str, base_url: str, checkpoint: str) -> None:
    from looptool.benchmarks.base import ModelEndpoint
    from looptool.benchmarks.runner.engine import plan_cells, run_plans
    from looptool.benchmarks.runner.settings import EvalSettings

    settings = config.section("eval", EvalSettings)
    endpoint = ModelEndpoint(label=label, base_url=base_url, model=config.model.served_name)
    plans = plan_cells(settings, [endpoint], checkpoint=checkpoint)
    asyncio.run(run_plans(plans, eval_dir))


def _record_training(report: PipelineReport, train_dir: Path) -> str:
    """Fill the report from ``train_report.json`` and return the trained model's folder."""
    from looptool.training.report import REPORT_NAME, TrainReport

    train = TrainReport.model_validate_json((train_dir / REPORT_NAME).read_text(encoding="utf-8"))
    if not train.final_model:
        raise PipelineError(f"training in {train_dir} wrote no final model (train.save_final_model is off)")
    report.trained_model = train.final_model
    report.train_steps = train.steps
    report.heldout_accuracy_after = train.heldout_after.accuracy
    return train.final_model


def run_pipeline(config: LoopToolConfig, run: RunDir) -> PipelineReport:
    """Run (or resume) every stage; returns the report also written to the run folder."""
    from looptool.embedded import resolve_model_path
    from looptool.graphs.dialogue.run import run_dialogue_synthesis
    from looptool.training.settings import TrainSettings
    from looptool.training.trainer import TrainJob, run_training

    settings = config.section("pipeline", PipelineSettings)
    base_model = str(resolve_model_path(config.model.path))
    synth, eval_base, train, eval_trained = (run.stage(name) for name in STAGES)
    synth_dir, eval_dir = synth.path, run.path / "eval"  # both evaluations share one folder
    report = PipelineReport(run_dir=str(run.path))

    need_base_server = not synth.done or (settings.evaluate and not eval_base.done)
    if need_base_server:
        with _serving(config, base_model, run.file("vllm-base.log")) as base_url:
            if _pending(report, synth):
                with synth.timed() as timing:
                    result = run_dialogue_synthesis(config, synth.path, n=settings.dialogues, progress=True)
                    log.info("synthesis: %s", result.describe())
                _note_timing(report, timing)
            if settings.evaluate and _pending(report, eval_base):
                with eval_base.timed() as timing:
                    _evaluate(config, eval_dir, settings.base_label, base_url, base_model)
                _note_timing(report, timing)

    samples_path = synth_dir / "samples.jsonl"
    samples = read_jsonl(samples_path, Sample) if samples_path.exists() else []
    report.samples = len(samples)
    report.dialogues = _count_lines(synth_dir / "dialogues.jsonl")
    report.rejects = _count_lines(synth_dir / "rejects.jsonl")
    if not samples:
        raise PipelineError(
            f"synthesis kept no samples ({report.rejects} dialogue(s) rejected; reasons in "
            f"{synth_dir / 'rejects.jsonl'}, traces via `looptool traces show {synth_dir}`): "
            "raise pipeline.dialogues or use stronger generator/judge models"
        )

    if _pending(report, train):
        with train.timed() as timing:
            train_settings = config.section("train", TrainSettings)
            run_training(
                TrainJob(
                    data=samples_path,
                    out=train.path,
                    settings=train_settings,
                    model=train_settings.init or config.model.path,
                    seed=train_settings.seed if train_settings.seed is not None else config.run.seed,
                )
            )
        _note_timing(report, timing)
    trained = _record_training(report, train.path)

    if settings.evaluate:
        if _pending(report, eval_trained):
            with eval_trained.timed() as timing, _serving(config, trained, run.file("vllm-trained.log")) as url:
                _evaluate(config, eval_dir, settings.trained_label, url, trained)
            _note_timing(report, timing)
        report.results = str(_write_results(eval_dir))
    write_json_atomic(run.path / "pipeline_report.json", report.model_dump(mode="json"))
    return report


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open(encoding="utf-8") as stream:
        return sum(1 for line in stream if line.strip())


def _write_results(eval_dir: Path) -> Path:
    """Re-score every stored cell (base and trained) into one results table and chart."""
    from looptool.benchmarks.runner.engine import rescore
    from looptool.benchmarks.runner.report import cell_reports, print_tables, write_results

    reports = cell_reports(rescore(eval_dir))
    print_tables(reports)
    paths = write_results(eval_dir, reports, chart=True)
    return paths[0]
