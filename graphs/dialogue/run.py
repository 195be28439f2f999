"""Run many dialogue simulations concurrently, validate them, write the seed data set.

Every dialogue is one item of the batch runner (:mod:`looptool.batch`), keyed by its id
``dlg-<index>``; its outcome (the dialogue with its samples, or with its reject record) is
appended to ``dialogues.journal.jsonl`` as it finishes. The outputs are derived from the
journal and written atomically at the end of a run (also an interrupted one):

* ``dialogues.jsonl`` — every finished dialogue (:class:`~looptool.schema.Dialogue`; its
  ``metadata`` holds index, status, stage, reasons, stop reason, knobs, prompt versions);
* ``samples.jsonl`` — the :class:`~looptool.schema.Sample`s of accepted dialogues;
* ``rejects.jsonl`` — one :class:`RejectRecord` per rejected dialogue, with the reasons;
* ``failures.jsonl`` — an attempt log of dialogues that hit a model-server error (those are
  *not* finished: a rerun tries them again);
* ``traces.sqlite`` — every step (see :mod:`looptool.traces`); ``summary.json`` at the end.

**Resume.** A dialogue is finished once its accepted/rejected record is in the journal. A
rerun with the same run folder skips finished dialogues, retries failed ones and rewrites the
outputs from the journal, so nothing is duplicated or lost (a torn last journal line left by
a kill is cut). Set-ups are drawn per (``run.seed``, index), so a retried index gets the
same tools and knobs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field

from looptool.agents.tool_agent import SimulatorFactory
from looptool.batch import BatchItem, ItemOutcome, iter_journal, run_batch
from looptool.config import LoopToolConfig
from looptool.graphs.dialogue.config import DialogueSynthSettings
from looptool.graphs.dialogue.context import DialogueContext, DialogueModels, DialoguePrompts
from looptool.graphs.dialogue.graph import graph as dialogue_graph
from looptool.graphs.dialogue.graph import recursion_limit
from looptool.graphs.dialogue.knobs import DialogueKnobs
from looptool.graphs.validation.graph import ValidationContext
from looptool.graphs.validation.graph import graph as validation_graph
from looptool.graphs.validation.rules import RuleViolation
from looptool.graphs.validation.samples import dialogue_samples
from looptool.graphs.validation.state import StepJudgement
from looptool.jsonl import write_json_atomic, write_jsonl
from looptool.schema import Dialogue, Sample, ToolSpec
from looptool.traces import EventKind, TraceStore
from looptool.usage import UsageRecorder

log = logging.getLogger(__name__)

DIALOGUES_FILE = "dialogues.jsonl"
SAMPLES_FILE = "samples.jsonl"
REJECTS_FILE = "rejects.jsonl"
FAILURES_FILE = "failures.jsonl"
JOURNAL_FILE = "dialogues.journal.jsonl"
SUMMARY_FILE = "summary.json"
STAGE = "synth-dialogues"

Status = Literal["accepted", "rejected"]
RejectStage = Literal["simulation", "rules", "judge", "error"]


class RejectRecord(BaseModel):
    """Why one dialogue was rejected, with the dialogue itself for inspection."""

    model_config = ConfigDict(extra="forbid")

    dialogue_id: str
    index: int
    stage: RejectStage
    reasons: list[str]
    stop_reason: str | None = None
    violations: list[RuleViolation] = Field(default_factory=list)
    judgements: list[StepJudgement] = Field(default_factory=list)
    dialogue: Dialogue | None = None


class FailureRecord(BaseModel):
    """A dialogue attempt cut short by a model-server error (retried on the next run)."""

    model_config = ConfigDict(extra="forbid")

    dialogue_id: str
    index: int
    error: str
    time: float = Field(default_factory=time.time)


class DialogueResult(BaseModel):
    """One finished dialogue as journaled: with its samples (accepted) or its reject record
    (rejected; the record's ``dialogue`` is left out here, it is ``dialogue``)."""

    model_config = ConfigDict(extra="forbid")

    dialogue: Dialogue
    samples: list[Sample] = Field(default_factory=list)
    reject: RejectRecord | None = None


class SynthesisReport(BaseModel):
    """What a run did."""

    run_dir: str
    requested: int
    already_done: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    samples: int = 0
    elapsed_s: float = 0.0
    reject_reasons: dict[str, int] = Field(default_factory=dict)
    stop_reasons: dict[str, int] = Field(default_factory=dict)

    @property
    def finished(self) -> int:
        return self.already_done + self.accepted + self.rejected

    @property
    def dialogues_per_minute(self) -> float:
        simulated = self.accepted + self.rejected + self.failed
        return 60.0 * simulated / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def describe(self) -> str:
        reasons = ", ".join(f"{name}={count}" for name, count in
                            sorted(self.reject_reasons.items(), key=lambda item: -item[1])[:8])
        lines = [
            f"{self.finished}/{self.requested} dialogues finished in {self.run_dir} "
            f"({self.already_done} from an earlier run): {self.accepted} accepted, "
            f"{self.rejected} rejected, {self.failed} failed (retried on rerun); "
            f"{self.samples} samples; {self.dialogues_per_minute:.1f} dialogues/min",
        ]
        if reasons:
            lines.append(f"rejection reasons: {reasons}")
        return "\n".join(lines)


@dataclass(frozen=True)
class RunModels:
    """The chat models of a run, one per agent (several may be the same object)."""

    planner: BaseChatModel
    user: BaseChatModel
    assistant: BaseChatModel
    judge: BaseChatModel | None
    simulator: SimulatorFactory | None = None


def dialogue_id_for(index: int) -> str:
    return f"dlg-{index:06d}"


def dialogue_index(dialogue_id: str) -> int:
    """The index of a ``dlg-<index>`` id (the inverse of :func:`dialogue_id_for`)."""
    prefix, _, number = dialogue_id.partition("-")
    if prefix != "dlg" or not number.isdigit():
        raise ValueError(f"not a dialogue id: {dialogue_id!r} (expected 'dlg-<index>')")
    return int(number)


# ---------------------------------------------------------------------- outputs


def _write_derived(path: Path, records: list[BaseModel]) -> None:
    """Rewrite one output atomically (an output that never had a record is not created)."""
    if records or path.exists():
        write_jsonl(path, records)


def write_outputs(run_dir: Path) -> None:
    """Derive ``dialogues``/``samples``/``rejects``/``failures.jsonl`` from the journal (atomically)."""
    attempts = list(iter_journal(run_dir / JOURNAL_FILE, DialogueResult))
    latest = {record.id: record for record in attempts}  # the latest record of an id wins
    finished = sorted((record for record in latest.values() if record.finished and record.result is not None),
                      key=lambda record: dialogue_index(record.id))
    results = [record.result for record in finished if record.result is not None]
    _write_derived(run_dir / DIALOGUES_FILE, [result.dialogue for result in results])
    _write_derived(run_dir / SAMPLES_FILE, [sample for result in results for sample in result.samples])
    _write_derived(run_dir / REJECTS_FILE, [result.reject.model_copy(update={"dialogue": result.dialogue})
                                            for result in results if result.reject is not None])
    _write_derived(run_dir / FAILURES_FILE, [
        FailureRecord(dialogue_id=record.id, index=dialogue_index(record.id), error=record.reason or "", time=record.time)
        for record in attempts if record.status == "failed"
    ])


def _refuse_unjournaled_outputs(run_dir: Path) -> None:
    """Outputs without a journal come from an older LoopTool; resuming would overwrite them."""
    if (run_dir / DIALOGUES_FILE).exists() and not (run_dir / JOURNAL_FILE).exists():
        raise ValueError(
            f"{run_dir} holds {DIALOGUES_FILE} but no {JOURNAL_FILE} (written by an older LoopTool, "
            f"or the journal was removed); resuming would overwrite those dialogues: use a new "
            f"run folder (--out), or move the old outputs away"
        )


# ---------------------------------------------------------------------- one dialogue


def is_retriable(error: BaseException) -> bool:
    """Model-server trouble worth retrying on a later run (connection, timeout, 5xx, 429)."""
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai depends on it
        return False
    retriable = (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError,
                 openai.RateLimitError, ConnectionError, TimeoutError)
    return isinstance(error, retriable)


class DialogueRunner:
    """Simulates, validates and writes dialogues of one run folder."""

    def __init__(
        self,
        settings: DialogueSynthSettings,
        run_dir: Path,
        library: list[ToolSpec],
        models: RunModels,
        *,
        seed: int = 0,
        traces: TraceStore | None = None,
        executable_backends: bool = True,
    ) -> None:
        self.settings = settings
        self.run_dir = run_dir
        self.library = library
        self.models = models
        self.seed = seed
        self.traces = traces
        self.executable_backends = executable_backends
        self.prompts = DialoguePrompts.from_settings(settings)

    async def run_one(self, index: int) -> ItemOutcome[DialogueResult]:
        """Simulate and validate dialogue ``index`` (its traces are recorded; the caller journals it)."""
        dialogue_id = dialogue_id_for(index)
        started = time.time()
        if self.traces is not None:
            self.traces.start(dialogue_id, kind="dialogue", metadata={"index": index})
        context = DialogueContext(
            settings=self.settings,
            library=self.library,
            models=DialogueModels(self.models.planner, self.models.user, self.models.assistant),
            simulator_factory=self.models.simulator,
            executable_backends=self.executable_backends,
            traces=self.traces,
            prompts=self.prompts,
        )
        limit = recursion_limit(self.settings.max_assistant_steps, self.settings.turns.max + 1)
        try:
            state = await dialogue_graph.ainvoke(
                {"dialogue_id": dialogue_id, "index": index, "seed": self.seed},
                context=context,
                config={"recursion_limit": limit, "run_name": dialogue_id},
            )
            dialogue, knobs = self._dialogue(dialogue_id, index, state)
            stop_reason = state.get("stop_reason")
            if stop_reason in ("planner_failed", "user_failed"):
                return await self._reject(dialogue, index, "simulation",
                                          [f"{stop_reason}: {state.get('stop_detail', '')}"],
                                          stop_reason, started)
            verdict = await validation_graph.ainvoke(
                {"dialogue": dialogue, "irrelevant": bool(knobs and knobs.irrelevant),
                 "stop_reason": stop_reason, "parse_errors": state.get("parse_errors", [])},
                context=ValidationContext(settings=self.settings, judge_model=self.models.judge,
                                          traces=self.traces, prompt=self.prompts.judge),
            )
        except Exception as error:
            return await self._error(dialogue_id, index, error, started)
        if verdict["status"] == "accepted":
            return await self._accept(dialogue, started)
        return await self._reject(dialogue, index, verdict["stage"], verdict["reasons"],
                                  dialogue.metadata.get("stop_reason"), started,
                                  violations=verdict.get("violations", []),
                                  judgements=verdict.get("judgements", []))

    def _dialogue(self, dialogue_id: str, index: int, state: dict[str, Any]) -> tuple[Dialogue, DialogueKnobs | None]:
        knobs: DialogueKnobs | None = state.get("knobs")
        planned = state.get("planned_tools") or []
        metadata: dict[str, Any] = {
            "index": index,
            "seed": self.seed,
            "stop_reason": state.get("stop_reason"),
            "stop_detail": state.get("stop_detail", ""),
            "knobs": knobs.model_dump() if knobs else None,
            "planned_tools": [tool.name for tool in planned],
            "user_details": state.get("user_details", []),
            "prompt_versions": self.prompts.versions(),
        }
        dialogue = Dialogue(id=dialogue_id, tools=state.get("offered_tools") or [],
                            messages=state.get("messages") or [], plan=state.get("plan"),
                            metadata=metadata)
        return dialogue, knobs

    async def _accept(self, dialogue: Dialogue, started: float) -> ItemOutcome[DialogueResult]:
        samples: list[Sample] = dialogue_samples(dialogue)
        dialogue.metadata.update(status="accepted", stage="judge" if self._judging else "rules",
                                 reasons=[], samples=len(samples),
                                 elapsed_s=round(time.time() - started, 3))
        self._finish_trace(dialogue.id, "accepted", [], dialogue.metadata.get("stop_reason"), len(samples),
                           stage=dialogue.metadata["stage"])
        return ItemOutcome.accepted(DialogueResult(dialogue=dialogue, samples=samples))

    @property
    def _judging(self) -> bool:
        return self.settings.judge and self.models.judge is not None

    async def _reject(
        self,
        dialogue: Dialogue,
        index: int,
        stage: RejectStage,
        reasons: list[str],
        stop_reason: str | None,
        started: float,
        *,
        violations: list[RuleViolation] | None = None,
        judgements: list[StepJudgement] | None = None,
    ) -> ItemOutcome[DialogueResult]:
        reasons = reasons or [f"{stage}: rejected without a stated reason"]
        dialogue.metadata.update(status="rejected", stage=stage, reasons=reasons, samples=0,
                                 elapsed_s=round(time.time() - started, 3))
        record = RejectRecord(dialogue_id=dialogue.id, index=index, stage=stage, reasons=reasons,
                              stop_reason=stop_reason, violations=violations or [],
                              judgements=judgements or [])
        self._finish_trace(dialogue.id, "rejected", reasons, stop_reason, 0, stage=stage)
        return ItemOutcome.rejected(DialogueResult(dialogue=dialogue, reject=record), "; ".join(reasons))

    async def _error(self, dialogue_id: str, index: int, error: Exception, started: float) -> ItemOutcome[DialogueResult]:
        text = f"{type(error).__name__}: {error}"
        if self.traces is not None:
            self.traces.record(dialogue_id, EventKind.ERROR, content=text, started_at=started)
        if is_retriable(error):
            log.warning("dialogue %s: model server error, will be retried on rerun: %s", dialogue_id, text)
            self._finish_trace(dialogue_id, "failed", [text], None, 0, stage="error")
            return ItemOutcome.failed(text)
        log.warning("dialogue %s: rejected after an error: %s", dialogue_id, text)
        dialogue = Dialogue(id=dialogue_id, tools=[], messages=[],
                            metadata={"index": index, "seed": self.seed, "stop_reason": "error"})
        return await self._reject(dialogue, index, "error", [f"error: {text}"], "error", started)

    def _finish_trace(self, dialogue_id: str, status: str, reasons: list[str], stop_reason: str | None,
                      samples: int, *, stage: str | None = None) -> None:
        if self.traces is not None:
            self.traces.finish(dialogue_id, status, metadata={
                "reason": "; ".join(reasons)[:1000], "stop_reason": stop_reason,
                "samples": samples, "stage": stage,
            })


def _reason_key(reason: str) -> str:
    """``step 2: unknown_tool: ...`` -> ``unknown_tool``; ``step 0: judge: ...`` -> ``judge``."""
    parts = [part.strip() for part in reason.split(":")]
    if parts and parts[0].startswith("step ") and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[0] == "stop" and len(parts) > 1:
        return f"stop:{parts[1]}"
    return parts[0] if parts else reason


async def run_dialogues(
    runner: DialogueRunner,
    n: int,
    *,
    concurrency: int,
    progress: bool = False,
    max_consecutive_failures: int = 8,
) -> SynthesisReport:
    """Simulate every unfinished index in ``range(n)``, ``concurrency`` in flight, then write
    the outputs from the journal. Stops early (:class:`ModelServerError`) when the first
    ``max_consecutive_failures`` dialogues all hit model-server errors."""
    _refuse_unjournaled_outputs(runner.run_dir)
    samples = 0
    reject_reasons: Counter[str] = Counter()
    stop_reasons: Counter[str] = Counter()

    async def simulate(item: BatchItem[int]) -> ItemOutcome[DialogueResult]:
        nonlocal samples
        outcome = await runner.run_one(item.payload)
        if outcome.result is not None:
            samples += len(outcome.result.samples)
            if outcome.result.reject is not None:
                reject_reasons.update({_reason_key(reason) for reason in outcome.result.reject.reasons})
            stop_reason = outcome.result.dialogue.metadata.get("stop_reason")
            if stop_reason:
                stop_reasons[stop_reason] += 1
        return outcome

    items = [BatchItem(dialogue_id_for(index), index) for index in range(n)]
    try:
        summary = await run_batch(items, simulate, journal=runner.run_dir / JOURNAL_FILE,
                                  result_model=DialogueResult, concurrency=concurrency,
                                  description="dialogues", progress=progress,
                                  stop_after_failures=max_consecutive_failures)
    finally:  # also on interruption: what was journaled is in the outputs
        write_outputs(runner.run_dir)
    report = SynthesisReport(
        run_dir=str(runner.run_dir), requested=n, already_done=summary.already_finished,
        accepted=summary.accepted, rejected=summary.rejected, failed=summary.failed,
        samples=samples, elapsed_s=summary.seconds, reject_reasons=dict(reject_reasons),
        stop_reasons=dict(stop_reasons),
    )
    if summary.stopped:
        last = summary.failures[-1].reason if summary.failures else "model server errors"
        raise ModelServerError(
            f"stopped after {summary.failed} consecutive model-server errors and no finished "
            f"dialogue; last: {last}. Is the server up? Finished work is kept; rerun to resume."
        )
    return report


class ModelServerError(RuntimeError):
    """The model server keeps failing; the run stops early (finished work is kept)."""


# ---------------------------------------------------------------------- entry point


def build_run_models(
    config: LoopToolConfig, settings: DialogueSynthSettings, *, usage: UsageRecorder | None = None
) -> RunModels:
    """Chat models for every role in use (one client per model role, shared); every HTTP
    call's tokens and latency go to ``usage`` when given."""
    from looptool.agents.backends.settings import ToolsSettings
    from looptool.agents.backends.simulated import SimulatedBackend
    from looptool.agents.chat_models import make_chat_model

    cache: dict[str, BaseChatModel] = {}

    def model(role: str) -> BaseChatModel:
        if role not in cache:
            cache[role] = make_chat_model(config, role, usage=usage)
        return cache[role]

    tools = config.section("tools", ToolsSettings)
    simulator_model = model(tools.simulator.role)

    def simulator(specs: list[ToolSpec]) -> SimulatedBackend:
        return SimulatedBackend(specs, simulator_model, settings=tools.simulator)

    roles = settings.roles
    return RunModels(planner=model(roles.planner), user=model(roles.user),
                     assistant=model(roles.assistant),
                     judge=model(roles.judge) if settings.judge else None, simulator=simulator)


def run_dialogue_synthesis(
    config: LoopToolConfig,
    run_dir: Path,
    *,
    n: int,
    tools_path: Path | None = None,
    concurrency: int | None = None,
    progress: bool = False,
    models: RunModels | None = None,
    library: list[ToolSpec] | None = None,
) -> SynthesisReport:
    """Simulate ``n`` dialogues into ``run_dir`` (resuming what is there). ``models`` and
    ``library`` default to the configured served models and the ``tools_path`` library (or
    the registered executable backends' tools)."""
    from looptool.agents.backends.settings import ToolsSettings
    from looptool.graphs.dialogue.tools import backend_tool_specs, load_tool_library

    settings = config.section("dialogue_synth", DialogueSynthSettings)
    if library is None:
        library = load_tool_library(tools_path) if tools_path is not None else backend_tool_specs()
    if not library:
        raise ValueError("no tools to simulate dialogues with (empty library, no backends registered)")
    models = models or build_run_models(config, settings)
    run_dir.mkdir(parents=True, exist_ok=True)
    traces = TraceStore.for_run(run_dir)
    try:
        runner = DialogueRunner(settings, run_dir, library, models, seed=config.run.seed,
                                traces=traces,
                                executable_backends=config.section("tools", ToolsSettings).executable_backends)
        report = asyncio.run(run_dialogues(runner, n, concurrency=concurrency or settings.concurrency,
                                           progress=progress))
    finally:
        traces.close()
    write_json_atomic(run_dir / SUMMARY_FILE, report.model_dump())
    if report.finished >= n:
        from looptool.rundir import RunDir

        RunDir(run_dir).mark_done(STAGE, report.model_dump())
    log.info("%s", report.describe(), extra={"data": {"report": report.model_dump()}})
    return report
