"""The JGLV stage: judge every probe mismatch through the batch runner and act on the verdict.

Each mismatched sample goes through the judging graph (:func:`looptool.graphs.judging.run.
judge_mismatch`: execution evidence, then the judge panel); :func:`looptool.loop.verify.
act_on_verdict` turns the verdict into an action. Results are journaled per sample, so a
killed stage resumes without asking the judges again about a finished sample.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field

from looptool.agents.label_judge import Prediction, Verdict
from looptool.batch import BatchItem, ItemOutcome, finished_in_order, read_journal, run_batch
from looptool.graphs.judging.run import judge_mismatch
from looptool.graphs.judging.settings import JglvSettings
from looptool.loop.records import JudgeRecord, ProbeRecord
from looptool.loop.verify import act_on_verdict
from looptool.schema import Sample
from looptool.traces import TraceStore


@dataclass(frozen=True)
class Mismatch:
    """A sample the policy got wrong, with its probe record."""

    sample: Sample
    probe: ProbeRecord


class JudgingSummary(BaseModel):
    judged: int = 0
    failed: int = 0
    verdicts: dict[str, int] = Field(default_factory=dict)
    actions: dict[str, int] = Field(default_factory=dict)
    decided_by_execution: int = 0
    position_disagreements: int = 0
    seconds: float = 0.0


@dataclass
class JudgingResult:
    """The stage's records and the samples each action yields."""

    records: list[JudgeRecord]
    summary: JudgingSummary
    error_seeds: list[Sample] = field(default_factory=list)  # D^PW then D^LR
    kept_high_ppl: list[Sample] = field(default_factory=list)


def prediction_of(probe: ProbeRecord) -> Prediction:
    return Prediction.from_completion(probe.completion)


def collect(records: Sequence[JudgeRecord], seconds: float, failed: int) -> JudgingResult:
    """Group the records' samples by action and count verdicts."""
    summary = JudgingSummary(judged=len(records), failed=failed, seconds=seconds)
    predicted_wrong: list[Sample] = []
    relabeled: list[Sample] = []
    kept: list[Sample] = []
    for record in records:
        summary.verdicts[record.verdict.value] = summary.verdicts.get(record.verdict.value, 0) + 1
        summary.actions[record.action] = summary.actions.get(record.action, 0) + 1
        summary.decided_by_execution += record.decided_by == "execution"
        summary.position_disagreements += bool(record.position_disagreement)
        if record.sample is None:
            continue
        if record.action == "error_seed":
            predicted_wrong.append(record.sample)
        elif record.action == "relabeled":
            relabeled.append(record.sample)
        elif record.action == "kept_high_ppl":
            kept.append(record.sample)
    return JudgingResult(list(records), summary, error_seeds=predicted_wrong + relabeled, kept_high_ppl=kept)


async def judge_mismatches(
    mismatches: Sequence[Mismatch],
    *,
    iteration: int,
    settings: JglvSettings,
    judges: Mapping[str, BaseChatModel] | None,
    journal: Path,
    high_ppl_cut: float | None,
    rule_problem: Callable[[Sample], str | None],
    traces: TraceStore | None = None,
    concurrency: int = 8,
    progress: bool = True,
) -> JudgingResult:
    """Judge every mismatch (``judges=None``: the no-JGLV ablation, every mismatch is PRED_WRONG)."""
    items = [BatchItem(m.sample.id, m) for m in mismatches]

    async def work(item: BatchItem[Mismatch]) -> ItemOutcome[JudgeRecord]:
        sample, probe = item.payload.sample, item.payload.probe
        if judges is None:
            verdict, decided_by, analysis, disagreement, detail = Verdict.PRED_WRONG, "ablation", "", None, {}
        else:
            result = await judge_mismatch(sample, prediction_of(probe), settings=settings, judges=judges,
                                          traces=traces, trace_id=f"jglv:{iteration}:{sample.id}")
            verdict, decided_by, analysis = result.verdict, result.decided_by, result.analysis
            disagreement = result.position_disagreement
            detail = result.model_dump(mode="json", exclude={"sample_id"})
        outcome = act_on_verdict(sample, probe, verdict, iteration=iteration, analysis=analysis,
                                 high_ppl_cut=high_ppl_cut, rule_problem=rule_problem)
        record = JudgeRecord(
            sample_id=sample.id, verdict=verdict, decided_by=decided_by, analysis=analysis,
            position_disagreement=disagreement, action=outcome.action, reason=outcome.reason,
            new_sample_id=outcome.sample.id if outcome.sample is not None and outcome.sample.id != sample.id else None,
            sample=outcome.sample, detail=detail,
        )
        if verdict == Verdict.UNJUDGED:
            return ItemOutcome.rejected(record, "unjudged")
        return ItemOutcome.accepted(record)

    batch = await run_batch(items, work, journal=journal, result_model=JudgeRecord, concurrency=concurrency,
                            description="judge (JGLV)", progress=progress)
    records = [r.result for r in finished_in_order(read_journal(journal, JudgeRecord), [i.id for i in items])
               if r.result is not None]
    return collect(records, batch.seconds, failed=len(items) - len(records))
