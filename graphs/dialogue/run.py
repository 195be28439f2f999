"""Run many dialogue simulations concurrently, validate them, write the seed data set.

Outputs in the run folder (one JSON object per line, appended as each dialogue finishes):

* ``dialogues.jsonl`` — every finished dialogue (:class:`~looptool.schema.Dialogue`; its
  ``metadata`` holds index, status, stage, reasons, stop reason, knobs, prompt versions);
* ``samples.jsonl`` — the :class:`~looptool.schema.Sample`s of accepted dialogues;
* ``rejects.jsonl`` — one :class:`RejectRecord` per rejected dialogue, with the reasons;
* ``failures.jsonl`` — an attempt log of dialogues that hit a model-server error (those are
  *not* finished: a rerun tries them again);
* ``traces.sqlite`` — every step (see :mod:`looptool.traces`); ``summary.json`` at the end.

**Resume.** A dialogue is finished once its line is in ``dialogues.jsonl`` (written last,
after its samples or its reject record). A rerun with the same run folder repairs a torn last
line left by a kill, drops samples/rejects of dialogues that never reached
``dialogues.jsonl``, and simulates only the missing indices: nothing is duplicated or lost.
Set-ups are drawn per (``run.seed``, index), so a retried index gets the same tools and knobs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field

from looptool.agents.tool_agent import SimulatorFactory
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
from looptool.jsonl import append_jsonl, iter_jsonl_dicts, write_json_atomic, write_jsonl
from looptool.schema import Dialogue, Sample, ToolSpec
from looptool.traces import EventKind, TraceStore
from looptool.usage import UsageRecorder

log = logging.getLogger(__name__)

DIALOGUES_FILE = "dialogues.jsonl"
SAMPLES_FILE = "samples.jsonl"
REJECTS_FILE = "rejects.jsonl"
FAILURES_FILE = "failures.jsonl"
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


@dataclass
class _Outcome:
    status: Status | Literal["failed"]
    samples: int = 0
    reasons: list[str] = field(default_factory=list)
    stop_reason: str | None = None


def dialogue_id_for(index: int) -> str:
    return f"dlg-{index:06d}"


# ---------------------------------------------------------------------- resume


def repair_torn_tail(path: Path) -> bool:
    """Cut an unterminated last line (left by a kill mid-append). True when cut."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb+") as stream:
        data = stream.read()
        if data.endswith(b"\n"):
            return False
        cut = data.rfind(b"\n") + 1
        stream.truncate(cut)
        stream.flush()
        os.fsync(stream.fileno())
    log.warning("%s: dropped a torn last line (%d bytes) left by an interrupted run",
                path, len(data) - cut)
    return True


def finished_indices(run_dir: Path) -> dict[int, str]:
    """Index -> dialogue id of every dialogue already in ``dialogues.jsonl``."""
    path = run_dir / DIALOGUES_FILE
    if not path.exists():
        return {}
    done: dict[int, str] = {}
    for record in iter_jsonl_dicts(path):
        index = (record.get("metadata") or {}).get("index")
        if isinstance(index, int):
            done[index] = str(record.get("id"))
    return done


def _drop_unfinished(path: Path, finished_ids: set[str], key: str) -> int:
    if not path.exists():
        return 0
    kept: list[dict[str, Any]] = []
    dropped = 0
    for record in iter_jsonl_dicts(path):
        owner = record.get(key)
        if key == "lineage":  # samples: the dialogue is noted in the lineage
            notes = (owner or {}).get("notes", [])
            owner = next((note.split(":", 1)[1] for note in notes if note.startswith("dialogue:")), None)
        if owner in finished_ids:
            kept.append(record)
        else:
            dropped += 1
    if dropped:
        write_jsonl(path, kept)
        log.warning("%s: dropped %d record(s) of dialogues that did not finish", path, dropped)
    return dropped


def prepare_resume(run_dir: Path) -> dict[int, str]:
    """Make the output files consistent after an interrupted run; return finished indices."""
    for name in (DIALOGUES_FILE, SAMPLES_FILE, REJECTS_FILE, FAILURES_FILE):
        repair_torn_tail(run_dir / name)
    done = finished_indices(run_dir)
    finished_ids = set(done.values())
    _drop_unfinished(run_dir / SAMPLES_FILE, finished_ids, "lineage")
    _drop_unfinished(run_dir / REJECTS_FILE, finished_ids, "dialogue_id")
    return done


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
        self._write_lock = asyncio.Lock()

    async def run_one(self, index: int) -> _Outcome:
        """Simulate, validate and record dialogue ``index``."""
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

    async def _accept(self, dialogue: Dialogue, started: float) -> _Outcome:
        samples: list[Sample] = dialogue_samples(dialogue)
        dialogue.metadata.update(status="accepted", stage="judge" if self._judging else "rules",
                                 reasons=[], samples=len(samples),
                                 elapsed_s=round(time.time() - started, 3))
        async with self._write_lock:
            for sample in samples:
                append_jsonl(self.run_dir / SAMPLES_FILE, sample)
            append_jsonl(self.run_dir / DIALOGUES_FILE, dialogue)
        self._finish_trace(dialogue.id, "accepted", [], dialogue.metadata.get("stop_reason"), len(samples),
                           stage=dialogue.metadata["stage"])
        return _Outcome("accepted", samples=len(samples), stop_reason=dialogue.metadata.get("stop_reason"))

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
    ) -> _Outcome:
        reasons = reasons or [f"{stage}: rejected without a stated reason"]
        dialogue.metadata.update(status="rejected", stage=stage, reasons=reasons, samples=0,
                                 elapsed_s=round(time.time() - started, 3))
        record = RejectRecord(dialogue_id=dialogue.id, index=index, stage=stage, reasons=reasons,
                              stop_reason=stop_reason, violations=violations or [],
                              judgements=judgements or [], dialogue=dialogue)
        async with self._write_lock:
            append_jsonl(self.run_dir / REJECTS_FILE, record)
            append_jsonl(self.run_dir / DIALOGUES_FILE, dialogue)
        self._finish_trace(dialogue.id, "rejected", reasons, stop_reason, 0, stage=stage)
        return _Outcome("rejected", reasons=reasons, stop_reason=stop_reason)

    async def _error(self, dialogue_id: str, index: int, error: Exception, started: float) -> _Outcome:
        text = f"{type(error).__name__}: {error}"
        if self.traces is not None:
            self.traces.record(dialogue_id, EventKind.ERROR, content=text, started_at=started)
        if is_retriable(error):
            log.warning("dialogue %s: model server error, will be retried on rerun: %s", dialogue_id, text)
            async with self._write_lock:
                append_jsonl(self.run_dir / FAILURES_FILE,
                             FailureRecord(dialogue_id=dialogue_id, index=index, error=text))
            self._finish_trace(dialogue_id, "failed", [text], None, 0, stage="error")
            return _Outcome("failed", reasons=[text])
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
    """Simulate every unfinished index in ``range(n)`` with ``concurrency`` workers."""
    done = prepare_resume(runner.run_dir)
    pending = [index for index in range(n) if index not in done]
    report = SynthesisReport(run_dir=str(runner.run_dir), requested=n,
                             already_done=sum(1 for index in done if index < n))
    reject_reasons: Counter[str] = Counter()
    stop_reasons: Counter[str] = Counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in pending:
        queue.put_nowait(index)
    consecutive_failures = 0
    abort: list[str] = []
    started = time.perf_counter()

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from looptool.logs import console

    bar = Progress(TextColumn("[bold]dialogues"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console,
                   disable=not progress, transient=False)
    task = bar.add_task("dialogues", total=n, completed=report.already_done, status="")

    async def worker() -> None:
        nonlocal consecutive_failures
        while not abort:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            outcome = await runner.run_one(index)
            if outcome.status == "failed":
                report.failed += 1
                consecutive_failures += 1
                if consecutive_failures >= max_consecutive_failures and not (report.accepted or report.rejected):
                    abort.append(outcome.reasons[0] if outcome.reasons else "model server errors")
            else:
                consecutive_failures = 0
                if outcome.status == "accepted":
                    report.accepted += 1
                    report.samples += outcome.samples
                else:
                    report.rejected += 1
                    reject_reasons.update({_reason_key(reason) for reason in outcome.reasons})
                if outcome.stop_reason:
                    stop_reasons[outcome.stop_reason] += 1
            bar.update(task, advance=0 if outcome.status == "failed" else 1,
                       status=f"accepted {report.accepted} rejected {report.rejected} failed {report.failed}")

    with bar:
        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(pending) or 1)))))
    report.elapsed_s = round(time.perf_counter() - started, 3)
    report.reject_reasons = dict(reject_reasons)
    report.stop_reasons = dict(stop_reasons)
    if abort:
        raise ModelServerError(
            f"stopped after {consecutive_failures} consecutive model-server errors and no finished "
            f"dialogue; last: {abort[0]}. Is the server up? Finished work is kept; rerun to resume."
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
