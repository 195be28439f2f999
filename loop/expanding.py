"""The EDDE stage: new hard samples around every error seed, through the batch runner.

Two generators, chosen by ``edde.generator``:

- ``llm``: the generator role writes ``k`` variants per seed
  (:func:`looptool.graphs.expansion.run.expand_error_seed`), each checked locally and then by
  the same two-stage validation seed data gets (rules, then the LLM step judge);
- ``slots``: curated seeds get ``k`` new slot draws from their template, labels checked by
  execution (:func:`looptool.loop.seed.slot_expansion.expand_by_slots`); no model call.

Accepted samples that duplicate a held-out sample (normalized user text + call signature)
are removed, so the loop never trains on its own test. One journal line per
(seed, generator): a killed stage resumes without asking again for a finished seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field

from looptool.agents.expander import ErrorSeed
from looptool.agents.label_judge import Prediction
from looptool.batch import BatchItem, ItemOutcome, finished_in_order, read_journal, run_batch
from looptool.graphs.expansion.run import expand_error_seed
from looptool.graphs.expansion.settings import EddeSettings
from looptool.graphs.expansion.validator import SampleValidator
from looptool.loop.records import ExpansionRecord, ProbeRecord
from looptool.loop.seed.slot_expansion import can_expand_by_slots, expand_by_slots
from looptool.loop.seed.split import drop_heldout_duplicates
from looptool.loop.verify import RELABEL_KEY
from looptool.schema import Sample, ToolCall
from looptool.traces import TraceStore

Generator = Literal["llm", "slots"]


class ExpansionOutcome(BaseModel):
    """One journal line: the record plus the accepted samples themselves."""

    record: ExpansionRecord
    samples: list[Sample] = Field(default_factory=list)


@dataclass(frozen=True)
class SeedJob:
    seed: Sample
    wrong: Prediction
    analysis: str
    generator: Generator


@dataclass
class ExpansionStageResult:
    records: list[ExpansionRecord]
    samples: list[Sample]
    failed: int = 0


def generator_yields(records: Sequence[ExpansionRecord]) -> dict[str, float]:
    """Accepted / asked per generator (``llm``, ``slots``) over the stage's records."""
    yields: dict[str, float] = {}
    for name in ("llm", "slots"):
        mine = [record for record in records if record.generator == name]
        asked = sum(record.asked for record in mine)
        if asked:
            yields[name] = round(sum(len(record.accepted_ids) for record in mine) / asked, 4)
    return yields


def wrong_answer(seed: Sample, probe: ProbeRecord | None) -> Prediction:
    """What the model got wrong: the old label for a relabeled seed, else the prediction."""
    relabel = seed.metadata.get(RELABEL_KEY)
    if isinstance(relabel, dict):
        calls = [ToolCall.model_validate(call) for call in relabel.get("label_calls") or []]
        return Prediction(calls=calls, text=relabel.get("label_text"), raw="(the label before JGLV corrected it)")
    if probe is None:
        return Prediction(raw="(no prediction recorded)")
    return Prediction.from_completion(probe.completion)


def generators_for(seed: Sample, choice: str) -> list[Generator]:
    """The generators that apply to ``seed`` under ``edde.generator``."""
    wanted: list[Generator] = ["llm", "slots"] if choice == "both" else [choice]  # type: ignore[list-item]
    return [g for g in wanted if g == "llm" or can_expand_by_slots(seed)]


async def expand_seeds(
    seeds: Sequence[Sample],
    *,
    probes: dict[str, ProbeRecord],
    analyses: dict[str, str],
    heldout: Sequence[Sample],
    iteration: int,
    settings: EddeSettings,
    generator: BaseChatModel | None,
    validator: SampleValidator | None,
    journal: Path,
    traces: TraceStore | None = None,
    concurrency: int = 4,
    progress: bool = True,
) -> ExpansionStageResult:
    """Expand every error seed with the configured generators; returns accepted samples in seed order."""
    jobs: list[BatchItem[SeedJob]] = []
    for seed in seeds:
        probe = probes.get(seed.lineage.parent_id or "") if seed.metadata.get(RELABEL_KEY) else probes.get(seed.id)
        for name in generators_for(seed, settings.generator):
            job = SeedJob(seed, wrong_answer(seed, probe), analyses.get(seed.id, ""), name)
            jobs.append(BatchItem(f"{seed.id}:{name}", job))
    if any(job.payload.generator == "llm" for job in jobs) and generator is None:
        raise ValueError("edde.generator uses the llm generator but no generator model was given")

    async def work(item: BatchItem[SeedJob]) -> ItemOutcome[ExpansionOutcome]:
        job = item.payload
        if job.generator == "slots":
            rng = random.Random(f"{settings.seed}|{job.seed.id}|{iteration}")
            made = expand_by_slots(job.seed, settings.k, rng, iteration=iteration)
            accepted, rejected, produced, error = made, [], len(made), None
        else:
            assert generator is not None
            result = await expand_error_seed(
                ErrorSeed(sample=job.seed, wrong=job.wrong, analysis=job.analysis, iteration=iteration),
                settings=settings, generator=generator, validator=validator, traces=traces,
                trace_id=f"edde:{iteration}:{job.seed.id}",
            )
            accepted = list(result.accepted)
            rejected = ["; ".join(r.reasons) for r in result.rejected]
            produced = result.produced
            error = "; ".join(result.generator_errors) if result.generator_errors and not produced else None
        dedup = drop_heldout_duplicates(accepted, heldout)
        record = ExpansionRecord(
            seed_id=job.seed.id, generator=job.generator, asked=settings.k, produced=produced,
            accepted_ids=[s.id for s in dedup.kept], rejected=rejected,
            heldout_duplicates=len(dedup.dropped), error=error,
        )
        outcome = ExpansionOutcome(record=record, samples=dedup.kept)
        if error:
            return ItemOutcome.rejected(outcome, error)
        return ItemOutcome.accepted(outcome)

    batch = await run_batch(jobs, work, journal=journal, result_model=ExpansionOutcome, concurrency=concurrency,
                            description="expand (EDDE)", progress=progress)
    done = [r.result for r in finished_in_order(read_journal(journal, ExpansionOutcome), [j.id for j in jobs])
            if r.result is not None]
    samples: list[Sample] = []
    seen: set[str] = set()
    for outcome in done:
        for sample in outcome.samples:
            if sample.id not in seen:
                seen.add(sample.id)
                samples.append(sample)
    return ExpansionStageResult(records=[o.record for o in done], samples=samples, failed=batch.failed)
