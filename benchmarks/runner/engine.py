"""The evaluation engine: plan cells, run missing entries concurrently, score, store.

A cell is one model endpoint (label + mode) x one benchmark. For each cell the engine loads
the entries, skips those whose output is already stored, runs the rest with at most
``endpoint.concurrency`` requests in flight, appends every output as soon as it arrives, then
scores all stored outputs (pure: :meth:`Benchmark.score_batch`). A rerun of a finished cell
with the same request does nothing; a killed run resumes at the first missing entry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from looptool.benchmarks.base import (
    Benchmark,
    BenchmarkSummary,
    EndpointError,
    EntryOutput,
    EvalEntry,
    ModelEndpoint,
    create_benchmark,
)
from looptool.benchmarks.runner.chat import OpenAIChatModel, exceeds_context
from looptool.benchmarks.runner.identity import CellIdentity, CellMismatch, cell_identity
from looptool.benchmarks.runner.settings import EvalSettings
from looptool.benchmarks.runner.store import CellManifest, CellRequest, CellStore, find_cells
from looptool.jsonl import write_json_atomic
from looptool.logs import console

log = logging.getLogger(__name__)


class EvalAborted(RuntimeError):
    """The endpoint failed during a cell; outputs stored so far are kept (rerun resumes)."""


@dataclass(frozen=True)
class CellPlan:
    """A cell to run: which endpoint, which benchmark, what exactly to evaluate, and the
    identity its outputs must have (``None`` when re-scoring)."""

    endpoint: ModelEndpoint
    benchmark: str
    request: CellRequest
    checkpoint: str | None = None
    identity: CellIdentity | None = None


@dataclass
class CellResult:
    plan: CellPlan
    manifest: CellManifest
    summary: BenchmarkSummary | None
    skipped: bool = False
    new_outputs: int = 0
    errors: list[str] = field(default_factory=list)


def plan_cells(
    settings: EvalSettings, endpoints: Sequence[ModelEndpoint], checkpoint: str | None = None
) -> list[CellPlan]:
    """Validate benchmark names, options and categories before any request is made."""
    unknown = set(settings.categories) - set(settings.benchmarks)
    if unknown:
        raise ValueError(
            f"eval.categories names benchmark(s) {sorted(unknown)} that are not in eval.benchmarks {settings.benchmarks}"
        )
    prepared: list[tuple[Benchmark, CellRequest]] = []
    try:
        for name in settings.benchmarks:
            benchmark = create_benchmark(name, settings.benchmark_options.get(name, {}))
            prepared.append((benchmark, CellRequest(
                benchmark=name,
                benchmark_version=benchmark.version,
                categories=benchmark.resolve_categories(settings.categories.get(name)),
                limit=settings.limit,
                options=benchmark.options.model_dump(mode="json"),
            )))
        plans: list[CellPlan] = []
        for endpoint in endpoints:
            if settings.concurrency is not None:
                endpoint = endpoint.model_copy(update={"concurrency": settings.concurrency})
            plans.extend(
                CellPlan(endpoint, request.benchmark, request, checkpoint, cell_identity(benchmark, endpoint, checkpoint))
                for benchmark, request in prepared
            )
        return plans
    finally:
        for benchmark, _ in prepared:
            benchmark.close()


def check_identity(store: CellStore, plan: CellPlan) -> None:
    """Refuse to add outputs to a cell whose stored outputs were produced otherwise."""
    if plan.identity is None:
        return
    manifest = store.manifest()
    where = f"{store.path}"
    advice = (
        "Rerun with the settings the cell was made with, or write to another --out "
        "(or give the model another label)."
    )
    if manifest is None:
        if store.outputs_file.exists() and store.outputs_file.stat().st_size > 0:
            raise CellMismatch(f"{where} holds outputs but no cell.json saying how they were produced. {advice}")
        return
    if manifest.identity is None:
        raise CellMismatch(
            f"{where} was written by an older LoopTool that did not record the settings of its outputs. {advice}"
        )
    differences = manifest.identity.differences(plan.identity)
    if differences:
        raise CellMismatch(
            f"{where} was produced with other settings than this run asks for "
            f"({'; '.join(differences)}): its outputs would be mixed with new ones. {advice}"
        )


def _public(endpoint: ModelEndpoint) -> dict[str, object]:
    data = endpoint.model_dump(mode="json")
    data.pop("api_key", None)
    return data


def score_cell(benchmark: Benchmark, entries: Sequence[EvalEntry], store: CellStore) -> BenchmarkSummary:
    """Score every stored output of ``entries`` and write scores + summary (no model)."""
    outputs = store.outputs()
    scored = [entry for entry in entries if entry.id in outputs]
    scores = benchmark.score_batch(scored, [outputs[entry.id] for entry in scored])
    summary = benchmark.summarize(scores)
    store.write_scores(scores, summary)
    write_did_not_fit(store, scored, outputs)
    failed = [reply.error for entry in scored for reply in outputs[entry.id].replies if reply.error]
    if failed:
        log.warning(
            "%s: %d request(s) were refused by the server and scored wrong (first: %s)",
            store.path, len(failed), failed[0][:160],
        )
    return summary


DID_NOT_FIT = "did_not_fit.json"


def write_did_not_fit(store: CellStore, entries: Sequence[EvalEntry], outputs: dict[str, Any]) -> list[str]:
    """``<cell>/did_not_fit.json``: the entries whose prompt outgrew the served model's context
    at some turn (scored wrong), by category; logged with their count. Removed when none."""
    found: dict[str, list[str]] = {}
    for entry in entries:
        if any(reply.error and exceeds_context(reply.error) for reply in outputs[entry.id].replies):
            found.setdefault(entry.category, []).append(entry.id)
    path = store.path / DID_NOT_FIT
    if not found:
        path.unlink(missing_ok=True)
        return []
    write_json_atomic(path, {"entries": sum(len(ids) for ids in found.values()), "by_category": found})
    log.warning("%s: %d entries did not fit the served model's context (scored wrong): %s; list in %s",
                store.path, sum(len(ids) for ids in found.values()),
                ", ".join(f"{category} {len(ids)}" for category, ids in sorted(found.items())), path)
    return [entry_id for ids in found.values() for entry_id in ids]


class CellRunner:
    """Runs the pending entries of one cell against one chat model."""

    def __init__(self, benchmark: Benchmark, model: OpenAIChatModel, store: CellStore) -> None:
        self.benchmark = benchmark
        self.model = model
        self.store = store
        self.errors: list[str] = []
        self.stored = 0
        self._abort: EndpointError | None = None

    async def _one(self, entry: EvalEntry, gate: asyncio.Semaphore, progress: Progress, task: TaskID) -> None:
        async with gate:
            if self._abort is not None:
                return
            try:
                output = await self.benchmark.run_entry(entry, self.model)
            except EndpointError as error:
                self._abort = self._abort or error
                return
            except Exception as error:  # a benchmark bug or backend failure: not stored, retried on rerun
                log.exception("entry %s failed; it is not stored and will be retried on rerun", entry.id)
                self.errors.append(f"{entry.id}: {type(error).__name__}: {error}")
                return
            if not isinstance(output, EntryOutput) or output.entry_id != entry.id:
                self.errors.append(f"{entry.id}: run_entry returned an output for another entry")
                return
            self.store.append(output)
            self.stored += 1
            progress.advance(task)

    async def run(self, pending: Sequence[EvalEntry], label: str, done_before: int) -> None:
        gate = asyncio.Semaphore(self.model.endpoint.concurrency)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(escape(label), total=done_before + len(pending), completed=done_before)
            await asyncio.gather(*(self._one(entry, gate, progress, task) for entry in pending))
        if self._abort is not None:
            raise EvalAborted(str(self._abort))


def all_finished(plans: Sequence[CellPlan], run_dir: Path) -> bool:
    """True when every cell is finished for the same request and the same identity (a sweep
    then needs no server for them)."""
    for plan in plans:
        store = CellStore.for_cell(run_dir, plan.endpoint.cell_name, plan.benchmark)
        manifest = store.manifest()
        if manifest is None or manifest.identity != plan.identity or not store.is_finished(plan.request):
            return False
    return True


def failed_results(plans: Sequence[CellPlan], run_dir: Path, reason: str) -> list[CellResult]:
    """Results for cells that could not run (their endpoint failed): stored outputs are kept."""
    results = []
    for plan in plans:
        store = CellStore.for_cell(run_dir, plan.endpoint.cell_name, plan.benchmark)
        manifest = store.manifest() or CellManifest(
            request=plan.request, identity=plan.identity, model=_public(plan.endpoint), checkpoint=plan.checkpoint
        )
        manifest = manifest.model_copy(update={"complete": False})
        results.append(CellResult(plan, manifest, store.summary(), errors=[reason]))
    return results


async def run_plans(plans: Sequence[CellPlan], run_dir: Path, *, keep_going: bool = False) -> list[CellResult]:
    """Run every cell (sequentially; entries inside a cell run concurrently).

    When an endpoint is unreachable or dies, ``keep_going`` records its remaining cells as
    failed (:func:`failed_results`) and goes on with the other endpoints; otherwise the error
    propagates. Either way the outputs stored so far are kept."""
    results: list[CellResult] = []
    by_endpoint: dict[str, list[CellPlan]] = {}
    for plan in plans:  # every cell checked before any request: nothing is half-done on a mismatch
        check_identity(CellStore.for_cell(run_dir, plan.endpoint.cell_name, plan.benchmark), plan)
        by_endpoint.setdefault(plan.endpoint.cell_name, []).append(plan)
    for group in by_endpoint.values():
        done = len(results)
        try:
            await _run_group(group, run_dir, results)
        except (EndpointError, EvalAborted) as error:
            if not keep_going:
                raise
            finished = {id(result.plan) for result in results[done:]}
            log.error("%s [%s]: %s", group[0].endpoint.display_name, group[0].endpoint.mode.value, error)
            results.extend(failed_results([plan for plan in group if id(plan) not in finished], run_dir, str(error)))
    return results


async def _run_group(group: Sequence[CellPlan], run_dir: Path, results: list[CellResult]) -> None:
    """The cells of one endpoint, in order; each result is appended to ``results`` as it is done."""
    async with OpenAIChatModel(group[0].endpoint) as model:
        checked = False
        for plan in group:
            store = CellStore.for_cell(run_dir, plan.endpoint.cell_name, plan.benchmark)
            if store.is_finished(plan.request):
                manifest = store.manifest()
                assert manifest is not None
                log.info("%s / %s: finished earlier, skipped", plan.endpoint.display_name, plan.benchmark)
                results.append(CellResult(plan, manifest, store.summary(), skipped=True))
                continue
            benchmark = create_benchmark(plan.benchmark, plan.request.options)
            try:
                entries = benchmark.load(plan.request.categories, plan.request.limit)
                stored = store.outputs()
                pending = [entry for entry in entries if entry.id not in stored]
                previous = store.manifest()
                if pending and not checked:
                    await model.check()
                    checked = True
                requests_before = model.requests
                started = time.perf_counter()
                runner = CellRunner(benchmark, model, store)
                label = f"{plan.endpoint.display_name} [{plan.endpoint.mode.value}] / {plan.benchmark}"
                if pending:
                    log.info("%s: %d entries to run, %d stored earlier", label, len(pending), len(entries) - len(pending))
                    # the identity is on disk before the first output: a kill cannot leave unlabelled outputs
                    _write_manifest(store, plan, entries, previous, 0, 0.0, [], complete=False)
                    try:
                        await runner.run(pending, label, len(entries) - len(pending))
                    finally:
                        _write_manifest(store, plan, entries, previous, model.requests - requests_before,
                                        time.perf_counter() - started, runner.errors, complete=False)
                summary = score_cell(benchmark, entries, store)
                manifest = _write_manifest(
                    store, plan, entries, previous, model.requests - requests_before,
                    time.perf_counter() - started, runner.errors, complete=not runner.errors,
                )
                results.append(CellResult(plan, manifest, summary, new_outputs=runner.stored, errors=runner.errors))
            finally:
                benchmark.close()


def _write_manifest(
    store: CellStore,
    plan: CellPlan,
    entries: Sequence[EvalEntry],
    previous: CellManifest | None,
    new_requests: int,
    wall_s: float,
    errors: list[str],
    *,
    complete: bool,
) -> CellManifest:
    outputs = store.outputs()
    have = sum(1 for entry in entries if entry.id in outputs)
    manifest = CellManifest(
        request=plan.request,
        identity=plan.identity or (previous.identity if previous else None),
        model=_public(plan.endpoint),
        checkpoint=plan.checkpoint,
        entries=len(entries),
        outputs=have,
        failed=len(errors),
        complete=complete and have == len(entries),
        requests=(previous.requests if previous else 0) + new_requests,
        wall_s=(previous.wall_s if previous else 0.0) + wall_s,
    )
    store.write_manifest(manifest)
    return manifest


def rescore(run_dir: Path) -> list[CellResult]:
    """Re-score every cell of ``run_dir`` from its stored outputs (never queries a model)."""
    cells = find_cells(run_dir)
    if not cells:
        raise FileNotFoundError(f"{run_dir} holds no evaluation cells (cells/*/*/cell.json)")
    results: list[CellResult] = []
    for store in cells:
        manifest = store.manifest()
        if manifest is None:
            continue
        request = manifest.request
        benchmark = create_benchmark(request.benchmark, request.options)
        try:
            entries = benchmark.load(request.categories, request.limit)
            summary = score_cell(benchmark, entries, store)
        finally:
            benchmark.close()
        outputs = store.outputs()
        have = sum(1 for entry in entries if entry.id in outputs)
        if have != manifest.outputs:  # lines lost or garbled since: the cell is no longer complete
            manifest = manifest.model_copy(update={"outputs": have, "complete": manifest.complete and have == len(entries)})
            store.write_manifest(manifest)
        endpoint = ModelEndpoint.model_validate(manifest.model)
        plan = CellPlan(endpoint, request.benchmark, request, manifest.checkpoint, manifest.identity)
        results.append(CellResult(plan, manifest, summary))
    return results
