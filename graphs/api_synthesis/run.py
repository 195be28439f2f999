"""Run N API-synthesis requests concurrently into a run folder (resumable).

Outputs in the run folder:

* ``apis.jsonl`` — one :class:`SynthesizedApi` per accepted tool (``spec`` + provenance:
  context-tree path, constraint path, seed, prompt version, model, attempts);
* ``api_rejects.jsonl`` — one :class:`ApiReject` per dropped request with its reason, rule
  and every attempt's violations;
* ``api_synthesis.journal.jsonl`` — the batch journal (:mod:`looptool.batch`): one fsynced
  line per finished or failed request (the two files above are rewritten atomically from
  it, also after an interruption), so a killed run loses nothing;
* ``traces.sqlite`` — every graph step (see ``looptool traces show RUN_DIR``);
* ``api_synthesis.done`` — written when every requested index is finished.

Every request is one batch item keyed by ``api-<index>``: accepted, rejected (final) or
failed (the model *server* failed, ``retryable``). A rerun with the same folder skips
finished indices and tries failed ones again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from looptool.agents.api_generator import ROLE
from looptool.batch import BatchItem, ItemOutcome, JournalRecord, read_journal, run_batch
from looptool.config import LoopToolConfig
from looptool.graphs.api_synthesis.graph import (
    ApiSynthesisDeps,
    compile_api_synthesis_graph,
    generator_overrides,
    recursion_limit,
)
from looptool.graphs.api_synthesis.sampling import ConstraintPath, sample_id
from looptool.graphs.api_synthesis.settings import SECTION, ApiSynthSettings
from looptool.graphs.api_synthesis.state import AttemptRecord
from looptool.jsonl import write_jsonl
from looptool.rundir import RunDir
from looptool.schema import SCHEMA_VERSION, ToolSpec
from looptool.traces import EventKind, TraceStore

log = logging.getLogger(__name__)

APIS_FILE = "apis.jsonl"
REJECTS_FILE = "api_rejects.jsonl"
JOURNAL_FILE = "api_synthesis.journal.jsonl"
STAGE = "api_synthesis"


class ApiProvenance(BaseModel):
    """Where a synthesized API came from."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["synthesized"] = "synthesized"
    sample_id: str
    index: int
    seed: int
    context_path: list[str] = Field(description="[domain, subdomain, intent]")
    intent_description: str = ""
    constraint_path: ConstraintPath
    prompt_version: str
    model: str
    attempts: int
    prompt_tokens: int = 0
    completion_tokens: int = 0


class SynthesizedApi(BaseModel):
    """One accepted API (``apis.jsonl`` line)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    spec: ToolSpec
    provenance: ApiProvenance


class ApiReject(BaseModel):
    """One dropped request (``api_rejects.jsonl`` line)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    sample_id: str
    index: int
    rule: str
    reason: str
    retryable: bool = False
    provenance: ApiProvenance | None = None
    attempts: list[AttemptRecord] = Field(default_factory=list)


class ApiResult(BaseModel):
    """One request's result as journaled: the accepted API or the reject (also of a failure)."""

    model_config = ConfigDict(extra="forbid")

    index: int
    accepted: SynthesizedApi | None = None
    rejected: ApiReject | None = None


class ApiSynthesisReport(BaseModel):
    """Counts of one ``run_api_synthesis`` call (over indices ``0..n-1``)."""

    model_config = ConfigDict(extra="forbid")

    run_dir: str
    requested: int
    accepted: int = 0
    rejected: int = 0
    retryable_failures: int = 0
    resumed: int = Field(default=0, description="indices already finished by an earlier run")
    reject_rules: dict[str, int] = Field(default_factory=dict)
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_s: float = 0.0
    apis_path: str = ""
    rejects_path: str = ""

    @property
    def finished(self) -> int:
        return self.accepted + self.rejected

    def describe(self) -> str:
        rules = ", ".join(f"{rule}: {count}" for rule, count in sorted(self.reject_rules.items())) or "none"
        return (
            f"API synthesis: {self.accepted}/{self.requested} accepted, {self.rejected} rejected "
            f"(by rule: {rules}), {self.retryable_failures} model failures to retry, "
            f"{self.resumed} from an earlier run; {self.attempts} attempts, tokens "
            f"{self.prompt_tokens}->{self.completion_tokens}, {self.elapsed_s:.1f} s\n"
            f"  accepted: {self.apis_path}\n  rejects:  {self.rejects_path}"
        )

    def __str__(self) -> str:
        return self.describe()


# ----------------------------------------------------------------------------- helpers


def _as_spec(tool: Any) -> ToolSpec:
    """A ToolSpec from a ToolSpec, a library record (``.spec``) or a spec dict."""
    if isinstance(tool, ToolSpec):
        return tool
    spec = getattr(tool, "spec", None)
    if isinstance(spec, ToolSpec):
        return spec
    if isinstance(tool, dict):
        return ToolSpec.model_validate(tool.get("spec", tool))
    raise TypeError(f"existing tool of type {type(tool).__name__} is not a ToolSpec or library record")


def write_outputs(run: RunDir, records: dict[str, JournalRecord[ApiResult]]) -> tuple[Path, Path]:
    """Rewrite ``apis.jsonl`` and ``api_rejects.jsonl`` atomically from the journal's records."""
    results = sorted((record.result for record in records.values() if record.result is not None),
                     key=lambda result: result.index)
    apis = run.file(APIS_FILE)
    rejects = run.file(REJECTS_FILE)
    write_jsonl(apis, [result.accepted for result in results if result.accepted is not None])
    write_jsonl(rejects, [result.rejected for result in results if result.rejected is not None])
    return apis, rejects


def _provenance(
    index: int, result: dict[str, Any], deps: ApiSynthesisDeps, model_name: str
) -> ApiProvenance | None:
    leaf = result.get("leaf")
    constraints = result.get("constraints")
    if leaf is None or constraints is None:
        return None
    attempts: list[AttemptRecord] = list(result.get("attempts", []))
    return ApiProvenance(
        sample_id=sample_id(index),
        index=index,
        seed=deps.seed,
        context_path=leaf.path,
        intent_description=leaf.description,
        constraint_path=constraints,
        prompt_version=deps.generator.prompt_version,
        model=model_name,
        attempts=len(attempts),
        prompt_tokens=sum(attempt.prompt_tokens or 0 for attempt in attempts),
        completion_tokens=sum(attempt.completion_tokens or 0 for attempt in attempts),
    )


def _outcome(index: int, result: dict[str, Any], deps: ApiSynthesisDeps, model_name: str) -> ItemOutcome[ApiResult]:
    provenance = _provenance(index, result, deps, model_name)
    if result.get("status") == "accepted" and result.get("tool") is not None and provenance is not None:
        accepted = SynthesizedApi(spec=result["tool"], provenance=provenance)
        return ItemOutcome.accepted(ApiResult(index=index, accepted=accepted))
    reject = ApiReject(
        sample_id=sample_id(index),
        index=index,
        rule=str(result.get("reject_rule") or "unknown"),
        reason=str(result.get("reason") or "no reason recorded"),
        retryable=bool(result.get("retryable", False)),
        provenance=provenance,
        attempts=list(result.get("attempts", [])),
    )
    return _reject_outcome(reject)


def _reject_outcome(reject: ApiReject) -> ItemOutcome[ApiResult]:
    """A final rejection, or a failure (tried again by the next run) when ``retryable``."""
    result = ApiResult(index=reject.index, rejected=reject)
    reason = f"{reject.rule}: {reject.reason}"
    return ItemOutcome.failed(reason, result) if reject.retryable else ItemOutcome.rejected(result, reason)


def _crash_outcome(index: int, error: BaseException) -> ItemOutcome[ApiResult]:
    return _reject_outcome(ApiReject(
        sample_id=sample_id(index),
        index=index,
        rule="internal_error",
        reason=f"the graph failed: {type(error).__name__}: {error}",
        retryable=True,
    ))


# ----------------------------------------------------------------------------- the runner


async def arun_api_synthesis(
    config: LoopToolConfig,
    run_dir: str | Path | RunDir,
    n: int,
    existing_tools: list[Any] | None = None,
    *,
    chat_model: BaseChatModel | None = None,
    progress: bool = True,
) -> ApiSynthesisReport:
    """Async form of :func:`run_api_synthesis` (same arguments and result)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    started = time.perf_counter()
    settings = config.section(SECTION, ApiSynthSettings)
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
    run.path.mkdir(parents=True, exist_ok=True)
    journal_path = run.file(JOURNAL_FILE)
    seed = settings.seed if settings.seed is not None else config.run.seed

    if chat_model is None:
        from looptool.agents.chat_models import make_chat_model

        chat_model = make_chat_model(config, ROLE, **generator_overrides(settings))
    model_name = str(getattr(chat_model, "model_name", None) or config.roles.generator.model)

    traces = TraceStore.for_run(run.path)
    try:
        deps = ApiSynthesisDeps.create(
            chat_model,
            settings,
            seed=seed,
            existing_tools=[_as_spec(tool) for tool in existing_tools or []],
            traces=traces,
        )
        for record in read_journal(journal_path, ApiResult).values():
            accepted = record.result.accepted if record.result is not None else None
            if accepted is not None:
                deps.known.add(accepted.spec, f"{accepted.provenance.sample_id} {accepted.spec.name!r} of this run")
        graph = compile_api_synthesis_graph(deps)
        graph_config: RunnableConfig = {"recursion_limit": recursion_limit(settings)}

        async def synthesize(item: BatchItem[int]) -> ItemOutcome[ApiResult]:
            index = item.payload
            try:
                result = await graph.ainvoke({"index": index}, config=graph_config)
                return _outcome(index, dict(result), deps, model_name)
            except Exception as error:  # a bug must not lose the other requests
                log.exception("request %s failed inside the graph", item.id)
                traces.record(item.id, EventKind.ERROR, content=f"{type(error).__name__}: {error}")
                traces.finish(item.id, "failed", metadata={"reason": str(error)})
                return _crash_outcome(index, error)

        items = [BatchItem(sample_id(index), index) for index in range(n)]
        summary = await run_batch(items, synthesize, journal=journal_path, result_model=ApiResult,
                                  concurrency=settings.concurrency, description="APIs", progress=progress)
    finally:
        traces.close()
        # also on interruption: what was journaled is in the output files
        records = read_journal(journal_path, ApiResult)
        apis_path, rejects_path = write_outputs(run, records)

    report = _report(run, n, records, summary.already_finished, started, apis_path, rejects_path)
    if report.retryable_failures == 0:
        run.mark_done(STAGE, report.model_dump(mode="json"))
    log.info("%s", report.describe(), extra={"data": {"api_synthesis": report.model_dump(mode="json")}})
    return report


def _report(
    run: RunDir,
    n: int,
    records: dict[str, JournalRecord[ApiResult]],
    resumed: int,
    started: float,
    apis_path: Path,
    rejects_path: Path,
) -> ApiSynthesisReport:
    report = ApiSynthesisReport(
        run_dir=str(run.path),
        requested=n,
        resumed=resumed,
        apis_path=str(apis_path),
        rejects_path=str(rejects_path),
    )
    rules: Counter[str] = Counter()
    for index in range(n):
        record = records.get(sample_id(index))
        result = record.result if record is not None else None
        if result is None:
            continue
        attempts = result.rejected.attempts if result.rejected is not None else []
        if result.accepted is not None:
            report.accepted += 1
            report.attempts += result.accepted.provenance.attempts
            report.prompt_tokens += result.accepted.provenance.prompt_tokens
            report.completion_tokens += result.accepted.provenance.completion_tokens
        elif result.rejected is not None and result.rejected.retryable:
            report.retryable_failures += 1
        elif result.rejected is not None:
            report.rejected += 1
            rules[result.rejected.rule] += 1
        report.attempts += len(attempts)
        for attempt in attempts:
            report.prompt_tokens += attempt.prompt_tokens or 0
            report.completion_tokens += attempt.completion_tokens or 0
    report.reject_rules = dict(rules)
    report.elapsed_s = time.perf_counter() - started
    return report


def run_api_synthesis(
    config: LoopToolConfig,
    run_dir: str | Path | RunDir,
    n: int,
    existing_tools: list[Any] | None = None,
    *,
    chat_model: BaseChatModel | None = None,
    progress: bool = True,
) -> ApiSynthesisReport:
    """Synthesize ``n`` APIs (request indices ``0..n-1``) into ``run_dir``.

    Args:
        config: the recipe; its ``api_synth`` section (:class:`ApiSynthSettings`) and the
            ``generator`` role are used. Sampling is seeded by ``api_synth.seed`` (default
            ``run.seed``) and the request index.
        run_dir: the run folder (created if missing). Finished indices of an earlier run in
            the same folder are skipped; model-server failures are retried.
        n: number of requests (each yields one accepted API or one reject).
        existing_tools: tools already in the library (``ToolSpec``s, library records with a
            ``.spec``, or spec dicts); a new API may not duplicate any of them by name or by
            normalised parameter schema.
        chat_model: the generator's chat model (default: ``agents.chat_models.make_chat_model`` for the
            ``generator`` role); any langchain ``BaseChatModel`` supporting
            ``with_structured_output(..., method="json_schema")``.
        progress: show a rich progress bar.

    Returns:
        :class:`ApiSynthesisReport` with counts, reject reasons by rule, tokens and the paths
        of ``apis.jsonl`` / ``api_rejects.jsonl``.

    Must not be called from a running event loop; use :func:`arun_api_synthesis` there.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(
            arun_api_synthesis(
                config, run_dir, n, existing_tools, chat_model=chat_model, progress=progress
            )
        )
    raise RuntimeError("run_api_synthesis was called inside an event loop; await arun_api_synthesis instead")


def load_synthesized_apis(path: str | Path) -> list[SynthesizedApi]:
    """Read an ``apis.jsonl`` file."""
    from looptool.jsonl import read_jsonl

    return read_jsonl(path, SynthesizedApi)
