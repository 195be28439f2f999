"""JGLV's consequences: what the loop does with each verdict (a pure function, tested alone).

- PRED_WRONG: the sample (label confirmed) is an error seed (D^PW).
- LABEL_WRONG: the prediction becomes the label; the old label and the verdict stay in the
  new sample's lineage and metadata; the new sample is an error seed (D^LR) if it passes the
  rule validator, else it is dropped with the reason.
- BOTH_CORRECT: kept (as a high-perplexity sample) when its label PPL reaches the high-PPL cut.
- BOTH_WRONG, UNDECIDED (no panel majority) and UNJUDGED: dropped, recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from looptool.agents.label_judge import Verdict
from looptool.loop.records import ProbeRecord
from looptool.schema import OriginKind, Sample

RELABEL_KEY = "relabel"


@dataclass(frozen=True)
class VerdictOutcome:
    """The action taken for one mismatched sample, and the sample it yields (if any)."""

    action: str  # error_seed | relabeled | kept_high_ppl | dropped | relabel_rejected
    sample: Sample | None = None
    reason: str = ""


def relabeled_sample(sample: Sample, probe: ProbeRecord, *, iteration: int, verdict: Verdict, analysis: str) -> Sample:
    """``sample`` with the prediction as its label; the old label kept in metadata and lineage."""
    old_label = {
        "label_calls": [call.model_dump(mode="json", exclude_none=True) for call in sample.label_calls],
        "label_text": sample.label_text,
        "verdict": verdict.value,
        "analysis": analysis,
        "iteration": iteration,
    }
    text = None if probe.predicted_calls else (probe.predicted_text or probe.completion.strip())
    return Sample.model_validate(
        {
            **sample.model_dump(),
            "id": f"{sample.id}~lr{iteration}",
            "label_calls": list(probe.predicted_calls),
            "label_text": text,
            "lineage": {
                **sample.lineage.model_dump(),
                "origin": OriginKind.RELABELED,
                "parent_id": sample.id,
                "iteration": iteration,
                "stage": "jglv",
                "notes": [f"relabeled by JGLV at iteration {iteration}: {analysis}"[:500]],
            },
            "metadata": {**sample.metadata, RELABEL_KEY: old_label},
        }
    )


def act_on_verdict(
    sample: Sample,
    probe: ProbeRecord,
    verdict: Verdict,
    *,
    iteration: int,
    analysis: str = "",
    high_ppl_cut: float | None,
    rule_problem: Callable[[Sample], str | None],
) -> VerdictOutcome:
    """Apply one verdict; ``rule_problem`` returns why a relabeled sample breaks the rules."""
    if verdict == Verdict.PRED_WRONG:
        return VerdictOutcome("error_seed", sample)
    if verdict == Verdict.LABEL_WRONG:
        if not probe.predicted_calls and not (probe.predicted_text or probe.completion.strip()):
            return VerdictOutcome("relabel_rejected", reason="the prediction is empty")
        try:
            candidate = relabeled_sample(sample, probe, iteration=iteration, verdict=verdict, analysis=analysis)
        except ValueError as error:  # e.g. the prediction calls a tool that is not offered
            return VerdictOutcome("relabel_rejected", reason=f"the prediction is not a valid label: {error}")
        problem = rule_problem(candidate)
        if problem:
            return VerdictOutcome("relabel_rejected", reason=problem)
        return VerdictOutcome("relabeled", candidate)
    if verdict == Verdict.BOTH_CORRECT:
        if high_ppl_cut is not None and probe.perplexity is not None and probe.perplexity >= high_ppl_cut:
            return VerdictOutcome("kept_high_ppl", sample)
        return VerdictOutcome("dropped", reason="both correct, not high perplexity")
    if verdict == Verdict.BOTH_WRONG:
        return VerdictOutcome("dropped", reason="both label and prediction are wrong")
    if verdict == Verdict.UNDECIDED:
        return VerdictOutcome("dropped", reason="the judge panel had no majority")
    return VerdictOutcome("dropped", reason="no valid judge vote")
