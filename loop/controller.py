"""The loop controller: seed -> (train -> probe -> verify -> expand -> compose) x N -> evaluate.

``looptool run`` drives this. Every step is a stage of the run folder (see
:mod:`looptool.loop.records` for the layout): a finished stage is skipped on rerun, and the
LLM-bound stages (probe, held-out evaluation, judge, expand) journal every item, so a killed
run resumes at the first unfinished stage and, inside it, at the first unfinished item.

One vLLM server (:class:`~looptool.loop.serving.PolicyServer`) serves the policy being
probed; LoRA adapters are hot-loaded onto the base they were trained on. The agent roles
(judge, generator) are the ``roles`` section's endpoints; with no endpoints configured they
talk to the same server (the embedded recipe), i.e. to the base model currently served.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from looptool.config import LoopToolConfig, RoleSettings
from looptool.episodes import Episode
from looptool.errors import UserError
from looptool.jsonl import read_jsonl, write_json_atomic, write_jsonl
from looptool.loop.compose import Composition, CompositionCounts, compose_next, compose_static
from looptool.loop.evaluation import PolicyScores, benchmark_scores, heldout_accuracy
from looptool.loop.records import (
    EpisodeIterationSummary,
    IterationSummary,
    LoopMode,
    ProbeRecord,
    RunReport,
    StageTime,
)
from looptool.loop.serving import PolicyServer, ServedPolicy
from looptool.loop.settings import LoopSettings
from looptool.rundir import RunDir, Stage
from looptool.schema import Sample
from looptool.traces import TraceStore
from looptool.usage import UsageRecorder

log = logging.getLogger(__name__)

SEED_STAGE = "seed"
BASE_STAGE = "base"
REPORT_FILE = "run_report.json"
T = TypeVar("T")


class LoopError(RuntimeError):
    """The loop cannot go on; finished stages stay in the run folder."""


@dataclass(frozen=True)
class Policy:
    """One checkpoint of the policy: the full model and, for LoRA, the adapter and its base."""

    label: str
    merged: str  # full weights (LoRA merged): what the next iteration trains from
    base: str  # the folder the adapter was trained on (== merged without an adapter)
    adapter: str | None = None


@dataclass
class IterationState:
    """What one iteration of one mode produced (filled stage by stage, from files on resume)."""

    mode: LoopMode
    iteration: int
    stage: Stage
    summary: IterationSummary
    data: list[Sample] = field(default_factory=list)


def _timed_stage(summary: IterationSummary, stage: Stage) -> Any:
    """Run ``stage`` only when not done; record its wall time in ``summary``."""

    @contextmanager
    def runner() -> Iterator[bool]:
        if stage.done:
            record = stage.record()
            seconds = record.seconds if record is not None and record.seconds is not None else 0.0
            summary.stage_times.append(StageTime(stage=stage.name.rsplit("/", 1)[-1], seconds=seconds, skipped=True))
            yield False
            return
        with stage.timed() as timing:
            yield True
        summary.stage_times.append(StageTime(stage=stage.name.rsplit("/", 1)[-1], seconds=round(timing.seconds or 0.0, 2)))

    return runner()


class LoopRunner:
    """Runs (or resumes) every mode of one ``looptool run`` in one run folder."""

    def __init__(self, config: LoopToolConfig, run: RunDir) -> None:
        from looptool.graphs.expansion.settings import EddeSettings
        from looptool.graphs.judging.settings import JglvSettings
        from looptool.loop.seed.settings import SeedSettings
        from looptool.training.settings import TrainSettings

        self.config = config
        self.run = run
        self.settings = config.section("loop", LoopSettings)
        self.seed_settings = config.section("seed", SeedSettings)
        self.jglv = config.section("jglv", JglvSettings)
        self.edde = config.section("edde", EddeSettings)
        self.train_settings = config.section("train", TrainSettings)
        self.usage = UsageRecorder()
        self.report = RunReport(run_dir=str(run.path))
        self._tokenizers: dict[str, Any] = {}
        self._trace_store: TraceStore | None = None
        self.episode_pool: list[Episode] = []  # loop.episodes: training episodes, E_1 drawn first
        self.episode_heldout: list[Episode] = []
        episodes = self.settings.episodes
        if (episodes.enabled and episodes.simulated_user and self.settings.stop_server_for_training
                and not config.roles.user_sim.base_urls):
            raise UserError("loop.episodes.simulated_user: the episode training phase needs a server for the "
                            "simulated user while the loop's own server is stopped; set roles.user_sim.base_urls "
                            "or loop.stop_server_for_training: false")

    # ------------------------------------------------------------------ top level

    def run_all(self) -> RunReport:
        from looptool.embedded import resolve_model_path

        base_model = str(resolve_model_path(self.config.model.path))
        base = Policy(label="base", merged=base_model, base=base_model)
        try:
            with self.open_server() as server:
                self.server = server
                seed_train, heldout = self.seed_stage(base)
                self.contamination_guard(seed_train)
                pool = shuffled(seed_train, self.seed_settings.seed)
                if self.settings.episodes.enabled:
                    self.episode_seed_stage()
                base_scores = self.evaluate(base, self.run.stage(f"{BASE_STAGE}/eval"), heldout)
                self.report.base_heldout_accuracy = base_scores.heldout_accuracy
                self.report.base_benchmark_accuracy = base_scores.benchmarks
                if self.settings.episodes.enabled:
                    self.report.base_episode_success, _ = self.evaluate_episodes(
                        base, self.run.stage(f"{BASE_STAGE}/episode_eval"))
                for mode in self.settings.modes:
                    self.run_mode(mode, base, pool, heldout)
        finally:
            if self._trace_store is not None:
                self._trace_store.close()
                self._trace_store = None
        self.write_report()
        return self.report

    # ------------------------------------------------------------------ seams (tests replace these)

    def open_server(self) -> PolicyServer:
        """The policy's vLLM server (a context manager)."""
        return PolicyServer(self.config.serve, served_name=self.config.model.served_name,
                            log_dir=self.run.path / "serving")

    def probe_client(self, served: ServedPolicy) -> Any:
        """The raw completions client of the served policy."""
        from looptool.completions import OpenAICompatClient

        role = RoleSettings(base_urls=[served.base_url], model=served.model,
                            timeout_s=self.config.roles.policy.timeout_s)
        return OpenAICompatClient.for_role(role, "policy", usage=self.usage)

    def chat_model(self, role: str, **overrides: Any) -> Any:
        """The chat model of an agent role (``roles.<role>``)."""
        from looptool.agents.chat_models import make_chat_model

        return make_chat_model(self.config, role, usage=self.usage, **overrides)

    def train_policy(self, job: Any) -> Any:
        """One GRPO run (TRL), in this process or through ``loop.train_launcher``."""
        from looptool.training.trainer import run_training

        if not self.settings.train_launcher:
            return run_training(job)
        import subprocess
        import sys

        settings = job.settings
        command = [
            *self.settings.train_launcher, "-m", "looptool.cli", "train", "--config", str(self.run.path / "config.yaml"),
            "--data", str(job.data), "--init", str(job.model), "--out", str(job.out),
            "--set", f"train.holdout_fraction={settings.holdout_fraction}",
            "--set", f"train.evaluate_before={str(settings.evaluate_before).lower()}",
            "--set", "train.save_final_model=true", "--set", f"train.seed={job.seed}",
        ]
        if settings.sample_kind == "episode":
            command += [
                "--set", "train.sample_kind=episode", "--set", f"train.rewards=[{','.join(settings.rewards)}]",
                "--set", f"train.max_tool_calling_iterations={settings.max_tool_calling_iterations}",
                "--set", f"train.max_prompt_tokens={settings.max_prompt_tokens}",
                "--set", f"train.max_completion_tokens={settings.max_completion_tokens}",
                "--set", f"train.max_steps={settings.max_steps}",
                "--set", f"train.simulated_user={str(settings.simulated_user).lower()}",
            ]
        if command[0] == "python":
            command[0] = sys.executable
        log.info("training through %s", " ".join(command))
        done = subprocess.run(command, check=False)
        if done.returncode != 0:
            raise LoopError(f"training exited with status {done.returncode}: {' '.join(command)}")
        return None

    def write_report(self) -> Path:
        path = self.run.path / REPORT_FILE
        write_json_atomic(path, self.report.model_dump(mode="json"))
        return path

    # ------------------------------------------------------------------ seed

    def seed_stage(self, base: Policy) -> tuple[list[Sample], list[Sample]]:
        """D_1's pool and the fixed held-out slice (``RUN/seed/``)."""
        from looptool.loop.seed.build import SeedReport, build_seed_set

        stage = self.run.stage(SEED_STAGE)
        if not stage.done:
            with stage.timed() as timing:
                dialogue_samples = self.simulate_dialogues(base, stage) if self.seed_settings.sources.dialogues else []
                seed = build_seed_set(self.seed_settings, dialogue_samples=dialogue_samples)
                seed.write(stage.path)
                timing.summary = {"train": len(seed.train), "heldout": len(seed.heldout)}
        train = read_jsonl(stage.path / "train.jsonl", Sample)
        heldout = read_jsonl(stage.path / "heldout.jsonl", Sample)
        report = SeedReport.model_validate_json((stage.path / "seed_report.json").read_text(encoding="utf-8"))
        self.report.seed_counts = {name: count.train + count.heldout for name, count in report.by_source.items()}
        self.report.seed_categories = {name: count.train + count.heldout for name, count in report.by_category.items()}
        self.report.heldout_size = len(heldout)
        if not train:
            raise LoopError(f"the seed set in {stage.path} has no training sample")
        return train, heldout

    def simulate_dialogues(self, base: Policy, stage: Stage) -> list[Sample]:
        """Seed dialogues from the LangGraph simulation, served by the base model."""
        from looptool.graphs.dialogue.run import run_dialogue_synthesis

        self.server.policy(base.merged)
        report = run_dialogue_synthesis(self.config, stage.path / "dialogues",
                                        n=self.seed_settings.sources.dialogues,
                                        progress=self.settings.progress)
        log.info("seed dialogues: %s", report.describe())
        path = stage.path / "dialogues" / "samples.jsonl"
        return read_jsonl(path, Sample) if path.exists() else []

    def contamination_guard(self, samples: list[Sample]) -> None:
        """Refuse to start when training tools overlap the evaluated benchmarks' tools."""
        from looptool.benchmarks.runner.settings import EvalSettings
        from looptool.loop.contamination import find_overlaps, overlap_message, tools_of

        if not self.settings.evaluate_benchmarks:
            return
        evaluation = self.config.section("eval", EvalSettings)
        evaluated = {name: evaluation.categories.get(name, []) for name in evaluation.benchmarks}
        overlaps = find_overlaps(tools_of(samples), evaluated, benchmark_options=evaluation.benchmark_options)
        self.report.contamination = [overlap.describe() for overlap in overlaps]
        if overlaps and not self.settings.allow_contamination:
            raise LoopError(overlap_message(overlaps, allow_hint="--set loop.allow_contamination=true"))
        if overlaps:
            log.warning("contamination allowed by loop.allow_contamination: %s", "; ".join(self.report.contamination))

    # ------------------------------------------------------------------ one mode

    def run_mode(self, mode: LoopMode, base: Policy, pool: list[Sample], heldout: list[Sample]) -> None:
        first = self.run.stage(f"{mode.value}/iter_1")
        data_path = first.file("data.jsonl")
        if not data_path.exists():
            write_jsonl(data_path, pool[: self.settings.step_budget])
        if self.settings.episodes.enabled and not first.file("episodes.jsonl").exists():
            write_jsonl(first.file("episodes.jsonl"), self.episode_pool[: self.settings.episode_budget])
        policy = base
        for iteration in range(1, self.settings.iterations + 1):
            policy = self.run_iteration(mode, iteration, policy, pool, heldout)

    def run_iteration(
        self, mode: LoopMode, iteration: int, previous: Policy, pool: list[Sample], heldout: list[Sample]
    ) -> Policy:
        stage = self.run.stage(f"{mode.value}/iter_{iteration}")
        summary = IterationSummary(mode=mode, iteration=iteration)
        data = read_jsonl(stage.path / "data.jsonl", Sample)
        summary.trained_on = len(data)
        if not data:
            raise LoopError(f"{stage.path / 'data.jsonl'} is empty: nothing to train on at iteration {iteration}")
        tokens_before = self._tokens_by_role()
        policy = self.train(stage, summary, previous, data)
        episodes = self._episodes_of(stage, summary)
        if episodes:
            policy = self.train_episodes(stage, summary, policy)
        served = self._serve(policy)
        records = self.probe(stage, summary, policy, served, data)
        scores = self.evaluate(policy, stage.stage("eval"), heldout, summary=summary, served=served)
        summary.heldout_accuracy = scores.heldout_accuracy
        summary.benchmark_accuracy = scores.benchmarks
        outcomes = self.probe_episodes(stage, summary, policy, served, episodes) if episodes else []
        if episodes:
            success, played = self.evaluate_episodes(policy, stage.stage("episode_eval"), summary=summary,
                                                     served=served)
            episode_summary = self._episode_summary(summary)
            episode_summary.heldout_success, episode_summary.heldout_episodes = success, played
        composition = self.compose(mode, iteration, stage, summary, data, records, pool, heldout)
        if episodes:
            self.compose_episodes(mode, iteration, stage, summary, episodes, outcomes)
        summary.next_size = len(composition.samples)
        summary.next_counts = {
            "error_seeds": composition.counts.error_seeds, "expansions": composition.counts.expansions,
            "high_ppl": composition.counts.high_ppl, "fresh": composition.counts.fresh,
        }
        after = self._tokens_by_role()
        summary.tokens_by_role = {role: after.get(role, 0) - tokens_before.get(role, 0) for role in after}
        for warning in summary.warnings:
            log.warning("%s iteration %d: %s", mode.value, iteration, warning)
        write_json_atomic(stage.file("iteration.json"), summary.model_dump(mode="json"))
        self.report.iterations = [
            s for s in self.report.iterations if not (s.mode == mode and s.iteration == iteration)
        ] + [summary]
        self.write_report()
        return policy

    # ------------------------------------------------------------------ stages

    def _episodes_of(self, stage: Stage, summary: IterationSummary) -> list[Episode]:
        """E_j (``loop.episodes`` on; empty otherwise)."""
        if not self.settings.episodes.enabled:
            return []
        path = stage.path / "episodes.jsonl"
        episodes = read_jsonl(path, Episode) if path.exists() else []
        self._episode_summary(summary).trained_on = len(episodes)
        if not episodes:
            summary.warnings.append(f"{path} holds no episode: no episode phase this iteration")
        return episodes

    @staticmethod
    def _episode_summary(summary: IterationSummary) -> EpisodeIterationSummary:
        if summary.episodes is None:
            summary.episodes = EpisodeIterationSummary()
        return summary.episodes

    def train(self, stage: Stage, summary: IterationSummary, previous: Policy, data: list[Sample]) -> Policy:
        from looptool.training.report import REPORT_NAME, TrainReport
        from looptool.training.trainer import TrainJob

        train_stage = stage.stage("train")
        settings = self.train_settings.model_copy(update={"holdout_fraction": 0.0, "evaluate_before": False,
                                                          "save_final_model": True})
        with _timed_stage(summary, train_stage) as todo:
            if todo:
                if self.settings.stop_server_for_training:
                    self.server.stop()
                self.train_policy(TrainJob(
                    data=stage.path / "data.jsonl", out=train_stage.path, settings=settings, model=previous.merged,
                    seed=(self.train_settings.seed if self.train_settings.seed is not None else self.config.run.seed)
                    + summary.iteration,
                ))
        report = TrainReport.model_validate_json((train_stage.path / REPORT_NAME).read_text(encoding="utf-8"))
        if not report.final_model:
            raise LoopError(f"training in {train_stage.path} wrote no final model")
        summary.train_steps = report.steps
        summary.policy = report.final_model
        return Policy(label=f"{summary.mode.value}/iter_{summary.iteration}", merged=report.final_model,
                      base=report.model_path if report.adapter else report.final_model, adapter=report.adapter)

    def _serve(self, policy: Policy) -> ServedPolicy:
        if self.settings.serve_policy == "adapter" and policy.adapter:
            return self.server.policy(policy.base, policy.adapter, name="policy")
        return self.server.policy(policy.merged)

    def _tokenizer(self, policy: Policy) -> Any:
        from looptool.training.model import load_tokenizer

        if policy.merged not in self._tokenizers:
            self._tokenizers[policy.merged] = load_tokenizer(Path(policy.merged))
        return self._tokenizers[policy.merged]

    def _tools(self, policy: Policy, served: ServedPolicy) -> Any:
        from looptool.loop.probe import ProbeTools

        tokenizer = self._tokenizer(policy)
        return ProbeTools(client=self.probe_client(served), tokenizer=tokenizer, settings=self.settings.probe)

    def _examples(self, policy: Policy, samples: list[Sample]) -> Any:
        from looptool.training.examples import build_examples

        return build_examples(samples, self._tokenizer(policy),
                              max_prompt_tokens=self.train_settings.max_prompt_tokens,
                              preamble=self.train_settings.preamble).examples

    def probe(self, stage: Stage, summary: IterationSummary, policy: Policy, served: ServedPolicy,
              data: list[Sample]) -> list[ProbeRecord]:
        from looptool.loop.probe import ProbeSummary, probe_samples

        probe_stage = stage.stage("probe")
        output = probe_stage.path / "probe.jsonl"
        with _timed_stage(summary, probe_stage) as todo:
            if todo:
                tools = self._tools(policy, served)
                records, result = asyncio.run(_closing(tools.client, probe_samples(
                    self._examples(policy, data), tools, journal=probe_stage.file("probe.journal.jsonl"),
                    progress=self.settings.progress)))
                if result.failed:
                    raise LoopError(f"probing: {result.failed} request(s) failed ({'; '.join(result.failures[:3])}); "
                                    "rerun to retry them")
                write_jsonl(output, records)
                write_json_atomic(probe_stage.file("summary.json"), result.model_dump(mode="json"))
        records = read_jsonl(output, ProbeRecord)
        result = ProbeSummary.model_validate_json((probe_stage.path / "summary.json").read_text(encoding="utf-8"))
        summary.probed, summary.mastered, summary.mismatched = result.probed, result.mastered, result.mismatched
        if not summary.mismatched:
            summary.warnings.append("probing found no mismatch: nothing for JGLV/EDDE this iteration")
        return records

    def evaluate(self, policy: Policy, stage: Stage, heldout: list[Sample], *,
                 summary: IterationSummary | None = None, served: ServedPolicy | None = None) -> PolicyScores:
        scores_path = stage.path / "scores.json"
        heldout = heldout[: self.settings.heldout_limit] if self.settings.heldout_limit else heldout
        holder = summary or IterationSummary(mode=LoopMode.LOOP, iteration=0)
        with _timed_stage(holder, stage) as todo:
            if todo:
                served = served or self._serve(policy)
                scores = PolicyScores(label=policy.label)
                if self.settings.evaluate_heldout and heldout:
                    tools = self._tools(policy, served)
                    accuracy, probed, failed = asyncio.run(_closing(tools.client, heldout_accuracy(
                        self._examples(policy, heldout), tools, journal=stage.file("heldout.journal.jsonl"),
                        progress=self.settings.progress)))
                    scores.heldout_accuracy, scores.heldout_samples, scores.heldout_failed = accuracy, probed, failed
                if self.settings.evaluate_benchmarks:
                    scores.benchmarks, scores.benchmark_errors = asyncio.run(benchmark_scores(
                        self.config, stage.path / "benchmarks", label=policy.label.replace("/", "-"),
                        base_url=served.base_url, model=served.model, checkpoint=policy.merged,
                        preamble=self.train_settings.preamble))
                write_json_atomic(scores_path, scores.model_dump(mode="json"))
        return PolicyScores.model_validate_json(scores_path.read_text(encoding="utf-8"))

    # ------------------------------------------------------------------ compose (and judge, expand)

    def compose(self, mode: LoopMode, iteration: int, stage: Stage, summary: IterationSummary,
                data: list[Sample], records: list[ProbeRecord], pool: list[Sample],
                heldout: list[Sample]) -> Composition:
        budget = self.settings.step_budget
        compose_stage = stage.stage("compose")
        parts = None if mode == LoopMode.STATIC else self.loop_parts(mode, iteration, stage, summary, data, records,
                                                                      heldout)
        with _timed_stage(summary, compose_stage) as todo:
            if todo:
                if parts is None:
                    composition = compose_static(budget=budget, pool=pool, iteration=iteration + 1)
                else:
                    used = self._used_ids(mode, iteration)
                    composition = compose_next(
                        budget=budget, error_seeds=parts.error_seeds, expansions=parts.expansions,
                        high_ppl=parts.high_ppl, fresh_pool=[sample for sample in pool if sample.id not in used],
                        fresh_limit=None if self.settings.fresh == "fill" else budget // (2 ** iteration))
                write_jsonl(compose_stage.file("next.jsonl"), composition.samples)
                write_json_atomic(compose_stage.file("composition.json"), composition.counts.model_dump(mode="json"))
                if iteration < self.settings.iterations:
                    write_jsonl(self.run.stage(f"{mode.value}/iter_{iteration + 1}").file("data.jsonl"),
                                composition.samples)
        counts = CompositionCounts.model_validate_json((compose_stage.path / "composition.json").read_text("utf-8"))
        composition = Composition(samples=read_jsonl(compose_stage.path / "next.jsonl", Sample), counts=counts)
        if not composition.samples:
            summary.warnings.append("composition produced an empty training set")
        return composition

    def _used_ids(self, mode: LoopMode, iteration: int) -> set[str]:
        used: set[str] = set()
        for j in range(1, iteration + 1):
            path = self.run.stage(f"{mode.value}/iter_{j}").path / "data.jsonl"
            if path.exists():
                used.update(sample.id for sample in read_jsonl(path, Sample))
        return used

    def loop_parts(self, mode: LoopMode, iteration: int, stage: Stage, summary: IterationSummary,
                   data: list[Sample], records: list[ProbeRecord], heldout: list[Sample]) -> LoopParts:
        from looptool.loop.probe import select_high_ppl

        by_id = {sample.id: sample for sample in data}
        high_ppl_ids = [] if mode == LoopMode.NO_HPPL else select_high_ppl(records, self.settings.probe)
        summary.high_ppl = len(high_ppl_ids)
        cut = min((r.perplexity for r in records if r.sample_id in set(high_ppl_ids) and r.perplexity is not None),
                  default=None)
        high_ppl = [by_id[i] for i in high_ppl_ids if i in by_id]
        mismatches = [r for r in records if not r.matched and r.sample_id in by_id]
        judged = self.judge(mode, iteration, stage, summary, by_id, mismatches, None if mode == LoopMode.NO_HPPL else cut)
        high_ppl += [s for s in judged.kept_high_ppl if s.id not in set(high_ppl_ids)]
        error_seeds = judged.error_seeds
        summary.error_seeds = len(error_seeds)
        if not error_seeds and mismatches:
            summary.warnings.append(f"JGLV kept no error seed from {len(mismatches)} mismatch(es): "
                                    f"verdicts {summary.verdicts}")
        expansions: list[Sample] = []
        if mode != LoopMode.NO_EDDE and error_seeds:
            expansions = self.expand(iteration, stage, summary, error_seeds, records, judged, heldout)
        return LoopParts(error_seeds=error_seeds, expansions=expansions, high_ppl=high_ppl)

    def judge(self, mode: LoopMode, iteration: int, stage: Stage, summary: IterationSummary,
              by_id: dict[str, Sample], mismatches: list[ProbeRecord], cut: float | None) -> Any:
        from looptool.graphs.validation.rules import check_sample
        from looptool.graphs.validation.settings import ValidationSettings
        from looptool.loop.judging import JudgingResult, Mismatch, collect, judge_mismatches
        from looptool.loop.records import JudgeRecord

        judge_stage = stage.stage("judge")
        output = judge_stage.path / "verdicts.jsonl"
        validation = self._validation_settings() or ValidationSettings()

        def rule_problem(sample: Sample) -> str | None:
            violations = check_sample(sample, validation)
            return "; ".join(v.describe() for v in violations) if violations else None

        with _timed_stage(summary, judge_stage) as todo:
            if todo:
                judges = None if mode == LoopMode.NO_JGLV else self._chat_models(self.jglv.judges)
                result: JudgingResult = asyncio.run(judge_mismatches(
                    [Mismatch(by_id[r.sample_id], r) for r in mismatches], iteration=iteration, settings=self.jglv,
                    judges=judges, journal=judge_stage.file("judge.journal.jsonl"), high_ppl_cut=cut,
                    rule_problem=rule_problem, concurrency=self.settings.judge_concurrency,
                    progress=self.settings.progress, traces=self._traces()))
                if result.summary.failed:
                    raise LoopError(f"judging: {result.summary.failed} mismatch(es) failed; rerun to retry them")
                write_jsonl(output, result.records)
        judged = collect(read_jsonl(output, JudgeRecord), 0.0, 0)
        summary.verdicts = judged.summary.verdicts
        summary.decided_by_execution = judged.summary.decided_by_execution
        summary.position_disagreements = judged.summary.position_disagreements
        summary.relabeled = judged.summary.actions.get("relabeled", 0)
        if mismatches and judged.summary.verdicts.get("UNJUDGED", 0) == len(mismatches):
            summary.warnings.append("JGLV judged nothing: every judge call failed (see the traces)")
        return judged

    def _traces(self) -> TraceStore:
        """The run's trace store (``RUN/traces.sqlite``): every judge and expansion episode, step by
        step, for ``looptool traces`` and ``looptool view``."""
        if self._trace_store is None:
            self._trace_store = TraceStore.for_run(self.run.path)
        return self._trace_store

    def expand(self, iteration: int, stage: Stage, summary: IterationSummary, seeds: list[Sample],
               records: list[ProbeRecord], judged: Any, heldout: list[Sample]) -> list[Sample]:
        from looptool.loop.expanding import expand_seeds, generator_yields
        from looptool.loop.records import ExpansionRecord

        expand_stage = stage.stage("expand")
        output = expand_stage.path / "expansions.jsonl"
        outcomes = expand_stage.path / "outcomes.jsonl"
        with _timed_stage(summary, expand_stage) as todo:
            if todo:
                generator = None
                if self.edde.generator in ("llm", "both"):
                    generator = self._chat_models([self.edde.role], temperature=self.edde.temperature)[self.edde.role]
                result = asyncio.run(expand_seeds(
                    seeds, probes={r.sample_id: r for r in records},
                    analyses={r.sample.id: r.analysis for r in judged.records if r.sample is not None},
                    heldout=heldout, iteration=iteration, settings=self.edde, generator=generator,
                    validator=self._validator(), journal=expand_stage.file("expand.journal.jsonl"),
                    concurrency=self.settings.expand_concurrency, progress=self.settings.progress,
                    traces=self._traces()))
                if result.failed:
                    raise LoopError(f"expansion: {result.failed} seed(s) failed; rerun to retry them")
                write_jsonl(output, result.samples)
                write_jsonl(outcomes, result.records)
        samples = read_jsonl(output, Sample)
        done = read_jsonl(outcomes, ExpansionRecord)
        summary.expansions_asked = sum(r.asked for r in done)
        summary.expansions_accepted = len(samples)
        summary.heldout_duplicates_removed = sum(r.heldout_duplicates for r in done)
        summary.expansion_yield_by_generator = generator_yields(done)
        if not samples:
            reasons = sorted({reason for r in done for reason in r.rejected[:2]} | {r.error for r in done if r.error})
            summary.warnings.append(f"EDDE accepted no expansion from {len(seeds)} seed(s): "
                                    + ("; ".join(reasons[:3]) or "no generator applies to these seeds"))
        return samples

    # ------------------------------------------------------------------ episodes (loop.episodes)

    def episode_seed_stage(self) -> None:
        """The episode pool and the held-out episodes (``RUN/seed/episodes/``), split once."""
        from looptool.loop.episode_loop import load_episode_source, split_episodes

        settings = self.settings.episodes
        stage = self.run.stage(f"{SEED_STAGE}/episodes")
        if not stage.done:
            with stage.timed() as timing:
                assert settings.file is not None
                train, heldout = split_episodes(load_episode_source(settings.file), settings.heldout,
                                                self.seed_settings.seed)
                pool: list[Episode] = shuffled(train, self.seed_settings.seed)
                write_jsonl(stage.file("train.jsonl"), pool)
                write_jsonl(stage.file("heldout.jsonl"), heldout)
                timing.summary = {"train": len(train), "heldout": len(heldout), "source": settings.file}
        self.episode_pool = read_jsonl(stage.path / "train.jsonl", Episode)
        self.episode_heldout = read_jsonl(stage.path / "heldout.jsonl", Episode)
        self.report.episode_heldout_size = len(self.episode_heldout)
        if not self.episode_pool:
            raise LoopError(f"the episode set in {stage.path} has no training episode")

    def episode_train_settings(self) -> Any:
        """The recipe's ``train`` section for the episode phase: sample_kind episode and the
        ``loop.episodes`` rewards and lengths (TRL cannot mix both kinds in one run)."""
        from looptool.training.settings import TrainSettings

        episodes = self.settings.episodes
        data = self.train_settings.model_dump()
        data.update(sample_kind="episode", rewards=list(episodes.rewards), reward_weights=None,
                    max_tool_calling_iterations=episodes.max_tool_calling_iterations,
                    max_prompt_tokens=max(episodes.max_prompt_tokens, self.train_settings.max_prompt_tokens),
                    max_completion_tokens=episodes.max_completion_tokens, holdout_fraction=0.0,
                    evaluate_before=False, save_final_model=True, simulated_user=episodes.simulated_user)
        if episodes.train_steps is not None:
            data["max_steps"] = episodes.train_steps
        return TrainSettings.model_validate(data)

    def train_episodes(self, stage: Stage, summary: IterationSummary, previous: Policy) -> Policy:
        """The episode GRPO phase on E_j, from the single-step phase's model: policy_j."""
        from looptool.training.report import REPORT_NAME, TrainReport
        from looptool.training.trainer import TrainJob

        train_stage = stage.stage("episode_train")
        with _timed_stage(summary, train_stage) as todo:
            if todo:
                if self.settings.stop_server_for_training:
                    self.server.stop()
                self.train_policy(TrainJob(
                    data=stage.path / "episodes.jsonl", out=train_stage.path, settings=self.episode_train_settings(),
                    model=previous.merged,
                    seed=(self.train_settings.seed if self.train_settings.seed is not None else self.config.run.seed)
                    + summary.iteration,
                    user_partner=self.user_partner(),
                ))
        report = TrainReport.model_validate_json((train_stage.path / REPORT_NAME).read_text(encoding="utf-8"))
        if not report.final_model:
            raise LoopError(f"episode training in {train_stage.path} wrote no final model")
        self._episode_summary(summary).train_steps = report.steps
        summary.policy = report.final_model
        return Policy(label=f"{summary.mode.value}/iter_{summary.iteration}", merged=report.final_model,
                      base=report.model_path if report.adapter else report.final_model, adapter=report.adapter)

    def user_partner(self) -> Any:
        """The simulated user behind ``ask_user`` (``loop.episodes.simulated_user``), else None."""
        if not self.settings.episodes.simulated_user:
            return None
        from looptool.agents.episode_user import partner_from_config

        return partner_from_config(self.config)

    def _play_settings(self) -> Any:
        from looptool.loop.episode_loop import PlaySettings

        episodes = self.settings.episodes
        return PlaySettings(max_completion_tokens=episodes.max_completion_tokens,
                            max_tool_calling_iterations=episodes.max_tool_calling_iterations,
                            preamble=self.train_settings.preamble, partner=self.user_partner())

    def _play(self, policy: Policy, served: ServedPolicy, episodes: list[Episode], journal: Path,
              description: str) -> list[Any]:
        from looptool.loop.episode_loop import play_episodes

        tokenizer = self._tokenizer(policy)
        client = self.probe_client(served)
        outcomes, result = asyncio.run(_closing(client, play_episodes(
            episodes, client, tokenizer, self._play_settings(), journal=journal,
            concurrency=self.settings.episodes.concurrency, description=description,
            progress=self.settings.progress)))
        if result.failed:
            failures = "; ".join(f"{f.id}: {f.reason}" for f in result.failures[:3])
            raise LoopError(f"{description}: {result.failed} episode(s) failed ({failures}); rerun to retry them")
        return outcomes

    def probe_episodes(self, stage: Stage, summary: IterationSummary, policy: Policy, served: ServedPolicy,
                       episodes: list[Episode]) -> list[Any]:
        """Play E_j greedily on the served policy_j: one EpisodeOutcome per episode."""
        from looptool.training.episode_rollout import EpisodeOutcome

        probe_stage = stage.stage("episode_probe")
        output = probe_stage.path / "outcomes.jsonl"
        with _timed_stage(summary, probe_stage) as todo:
            if todo:
                outcomes = self._play(policy, served, episodes, probe_stage.file("episode_probe.journal.jsonl"),
                                      "probe episodes")
                write_jsonl(output, outcomes)
        outcomes = read_jsonl(output, EpisodeOutcome)
        episode_summary = self._episode_summary(summary)
        episode_summary.probed = len(outcomes)
        episode_summary.succeeded = sum(o.success for o in outcomes)
        episode_summary.stop_reasons = dict(Counter(o.stop_reason for o in outcomes))
        if outcomes and episode_summary.succeeded == len(outcomes):
            summary.warnings.append("every episode succeeded: nothing for episode JGLV/EDDE this iteration")
        return outcomes

    def evaluate_episodes(self, policy: Policy, stage: Stage, *, summary: IterationSummary | None = None,
                          served: ServedPolicy | None = None) -> tuple[float | None, int]:
        """End-state success of ``policy`` on the held-out episodes (``scores.json``)."""
        scores_path = stage.path / "scores.json"
        holder = summary or IterationSummary(mode=LoopMode.LOOP, iteration=0)
        with _timed_stage(holder, stage) as todo:
            if todo:
                outcomes: list[Any] = []
                if self.episode_heldout:
                    served = served or self._serve(policy)
                    outcomes = self._play(policy, served, self.episode_heldout,
                                          stage.file("episode_eval.journal.jsonl"), "held-out episodes")
                write_jsonl(stage.file("outcomes.jsonl"), outcomes)
                success = sum(o.success for o in outcomes) / len(outcomes) if outcomes else None
                write_json_atomic(scores_path, {"label": policy.label, "success": success, "episodes": len(outcomes)})
        scores = json.loads(scores_path.read_text(encoding="utf-8"))
        return scores["success"], int(scores["episodes"])

    def compose_episodes(self, mode: LoopMode, iteration: int, stage: Stage, summary: IterationSummary,
                         episodes: list[Episode], outcomes: list[Any]) -> None:
        """E_{j+1} = error seeds ∪ accepted expansions ∪ fresh episodes, up to the episode budget."""
        budget = self.settings.episode_budget
        compose_stage = stage.stage("episode_compose")
        parts = None if mode == LoopMode.STATIC else self.episode_parts(mode, iteration, stage, summary, episodes,
                                                                         outcomes)
        with _timed_stage(summary, compose_stage) as todo:
            if todo:
                if parts is None:
                    composition = compose_static(budget=budget, pool=self.episode_pool, iteration=iteration + 1)
                else:
                    used = self._used_episode_ids(mode, iteration)
                    composition = compose_next(
                        budget=budget, error_seeds=parts[0], expansions=parts[1],
                        fresh_pool=[e for e in self.episode_pool if e.id not in used],
                        fresh_limit=None if self.settings.fresh == "fill" else budget // (2 ** iteration))
                write_jsonl(compose_stage.file("next.jsonl"), composition.samples)
                write_json_atomic(compose_stage.file("composition.json"), composition.counts.model_dump(mode="json"))
                if iteration < self.settings.iterations:
                    write_jsonl(self.run.stage(f"{mode.value}/iter_{iteration + 1}").file("episodes.jsonl"),
                                composition.samples)
        counts = CompositionCounts.model_validate_json((compose_stage.path / "composition.json").read_text("utf-8"))
        episode_summary = self._episode_summary(summary)
        episode_summary.next_size = counts.total
        episode_summary.next_counts = {"error_seeds": counts.error_seeds, "expansions": counts.expansions,
                                       "fresh": counts.fresh}
        if not counts.total:
            summary.warnings.append("episode composition produced an empty episode set")

    def _used_episode_ids(self, mode: LoopMode, iteration: int) -> set[str]:
        used: set[str] = set()
        for j in range(1, iteration + 1):
            path = self.run.stage(f"{mode.value}/iter_{j}").path / "episodes.jsonl"
            if path.exists():
                used.update(episode.id for episode in read_jsonl(path, Episode))
        return used

    def episode_parts(self, mode: LoopMode, iteration: int, stage: Stage, summary: IterationSummary,
                      episodes: list[Episode], outcomes: list[Any]) -> tuple[list[Episode], list[Episode]]:
        """(error seeds, accepted expansions) of the failed episodes."""
        from looptool.loop.episode_loop import EpisodeSeed, judge_failed_episodes
        from looptool.loop.records import EpisodeJudgeRecord

        by_id = {episode.id: episode for episode in episodes}
        outcome_of = {outcome.episode_id: outcome for outcome in outcomes}
        failed = [(by_id[o.episode_id], o) for o in outcomes if not o.success and o.episode_id in by_id]
        judge_stage = stage.stage("episode_judge")
        output = judge_stage.path / "verdicts.jsonl"
        with _timed_stage(summary, judge_stage) as todo:
            if todo:
                judges = None if mode == LoopMode.NO_JGLV else self._chat_models(self.jglv.judges)
                records, result = asyncio.run(judge_failed_episodes(
                    failed, iteration=iteration, settings=self.jglv, judges=judges,
                    journal=judge_stage.file("episode_judge.journal.jsonl"), traces=self._traces(),
                    concurrency=self.settings.judge_concurrency, progress=self.settings.progress))
                if result.failed:
                    raise LoopError(f"episode judging: {result.failed} episode(s) failed; rerun to retry them")
                write_jsonl(output, records)
        records = read_jsonl(output, EpisodeJudgeRecord)
        episode_summary = self._episode_summary(summary)
        episode_summary.verdicts = dict(Counter(r.verdict.value for r in records))
        episode_summary.relabeled = sum(r.action == "relabeled" for r in records)
        episode_summary.relabel_rejected = sum(r.action == "relabel_rejected" for r in records)
        seeds = [EpisodeSeed(r.episode, outcome_of.get(r.episode_id) if r.action == "error_seed" else None,
                             r.analysis)
                 for r in records if r.episode is not None and r.action in ("error_seed", "relabeled")]
        episode_summary.error_seeds = len(seeds)
        if failed and not seeds:
            summary.warnings.append(f"episode JGLV kept no error seed from {len(failed)} failed episode(s): "
                                    f"verdicts {episode_summary.verdicts}")
        expansions: list[Episode] = []
        if mode != LoopMode.NO_EDDE and seeds:
            expansions = self.expand_episodes(iteration, stage, summary, seeds, episodes)
        return [seed.episode for seed in seeds], expansions

    def expand_episodes(self, iteration: int, stage: Stage, summary: IterationSummary, seeds: list[Any],
                        episodes: list[Episode]) -> list[Episode]:
        """EDDE on the error-seed episodes; variants accepted by replay + check_episode."""
        from looptool.loop.episode_loop import expand_episode_seeds, rejection_counts
        from looptool.loop.records import EpisodeExpansionRecord
        from looptool.loop.seed.split import normalize_text

        expand_stage = stage.stage("episode_expand")
        output = expand_stage.path / "expansions.jsonl"
        outcomes = expand_stage.path / "outcomes.jsonl"
        episode_summary = self._episode_summary(summary)
        if self.edde.generator not in ("llm", "both"):
            summary.warnings.append("episode EDDE needs the llm generator (edde.generator: llm or both): "
                                    "no episode expansion")
            return []
        with _timed_stage(summary, expand_stage) as todo:
            if todo:
                generator = self._chat_models([self.edde.role], temperature=self.edde.temperature)[self.edde.role]
                known = {normalize_text(e.context[-1].content)
                         for e in [*self.episode_pool, *self.episode_heldout, *episodes]}
                accepted, records, result = asyncio.run(expand_episode_seeds(
                    seeds, iteration=iteration, settings=self.edde, generator=generator,
                    journal=expand_stage.file("episode_expand.journal.jsonl"), known_instructions=known,
                    traces=self._traces(), concurrency=self.settings.expand_concurrency,
                    progress=self.settings.progress))
                if result.failed:
                    raise LoopError(f"episode expansion: {result.failed} seed(s) failed; rerun to retry them")
                write_jsonl(output, accepted)
                write_jsonl(outcomes, records)
        accepted = read_jsonl(output, Episode)
        done = read_jsonl(outcomes, EpisodeExpansionRecord)
        episode_summary.expansions_asked = sum(r.asked for r in done)
        episode_summary.expansions_accepted = len(accepted)
        episode_summary.expansions_rejected = rejection_counts(done)
        if not accepted:
            reasons = sorted({reason for r in done for reason in r.rejected[:2]} | {r.error for r in done if r.error})
            summary.warnings.append(f"episode EDDE accepted no variant from {len(seeds)} seed(s): "
                                    + ("; ".join(reasons[:3]) or "the generator produced nothing"))
        return accepted

    # ------------------------------------------------------------------ models

    def _chat_models(self, roles: list[str], **overrides: Any) -> dict[str, Any]:
        return {role: self.chat_model(role, **overrides) for role in set(roles)}

    def _validation_settings(self) -> Any:
        from looptool.graphs.dialogue.config import DialogueSynthSettings

        return self.config.section("dialogue_synth", DialogueSynthSettings).validation

    def _validator(self) -> Any:
        """The two-stage validation seed data gets (rules, then the step judge) for expansions."""
        from looptool.graphs.dialogue.config import DialogueSynthSettings
        from looptool.graphs.expansion.validator import Validation
        from looptool.graphs.validation.graph import validate_sample

        dialogue = self.config.section("dialogue_synth", DialogueSynthSettings)
        settings = dialogue.validation
        judge_call = dialogue.judge_call()
        judge_model = self._chat_models([judge_call.role])[judge_call.role] if settings.judge else None

        async def validator(sample: Sample) -> Validation:
            result = await validate_sample(sample, settings=settings, judge_model=judge_model, judge_call=judge_call)
            return Validation(accepted=result.accepted, reason=result.reason)

        return validator

    def _tokens_by_role(self) -> dict[str, int]:
        summary = self.usage.summary()
        return {role: usage.prompt_tokens + usage.completion_tokens for role, usage in summary.roles.items()}


@dataclass(frozen=True)
class LoopParts:
    error_seeds: list[Sample]
    expansions: list[Sample]
    high_ppl: list[Sample]


async def _closing(client: Any, work: Awaitable[T]) -> T:
    """Await ``work``, then close ``client`` (its connections belong to this event loop)."""
    try:
        return await work
    finally:
        await client.aclose()


def run_loop(config: LoopToolConfig, run: RunDir) -> RunReport:
    """Run (or resume) the whole loop; returns the report also written to ``RUN/run_report.json``."""
    started = time.perf_counter()
    report = LoopRunner(config, run).run_all()
    log.info("loop done in %.0f s: %d iteration(s) over %d mode(s); report %s", time.perf_counter() - started,
             len(report.iterations), len({s.mode for s in report.iterations}), run.path / REPORT_FILE)
    return report


def shuffled(samples: list[T], seed: int) -> list[T]:
    """A deterministic shuffle (the pool D_1 is drawn from)."""
    order = list(samples)
    random.Random(seed).shuffle(order)
    return order
