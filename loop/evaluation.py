"""Evaluating one served policy: held-out ToolMatch (in distribution) and benchmark slices.

The held-out slice is probed exactly as training data is (same prompt, same parser, greedy,
through vLLM; :func:`looptool.loop.probe.probe_samples` without perplexity). Benchmark
slices are the ``eval`` section's (BFCL-v3 with the official checker, ACEBench), run by the
benchmark runner into the stage's folder; the overall score of each benchmark is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from looptool.benchmarks.base import BenchmarkSummary
from looptool.config import LoopToolConfig
from looptool.loop.probe import ProbeTools, probe_samples
from looptool.training.examples import GRPOExample


class PolicyScores(BaseModel):
    """``eval/scores.json`` of one policy."""

    label: str
    heldout_accuracy: float | None = None
    heldout_samples: int = 0
    heldout_failed: int = 0
    benchmarks: dict[str, float] = Field(
        default_factory=dict,
        description="per benchmark: overall (on a slice: entry-weighted mean of its categories), and per category",
    )
    benchmark_errors: list[str] = Field(default_factory=list)


async def heldout_accuracy(
    examples: Sequence[GRPOExample], tools: ProbeTools, *, journal: Path, progress: bool = True
) -> tuple[float | None, int, int]:
    """(accuracy, probed, failed) of greedy ToolMatch on the held-out examples."""
    plain = ProbeTools(tools.client, tools.tokenizer, tools.settings.model_copy(update={"perplexity_of": "none"}))
    _, summary = await probe_samples(examples, plain, journal=journal, description="held-out", progress=progress)
    return summary.accuracy, summary.probed, summary.failed


def summary_scores(benchmark: str, summary: BenchmarkSummary) -> dict[str, float]:
    """``<benchmark>``: its overall score, or on a slice without one the entry-weighted mean of
    the evaluated categories; plus ``<benchmark>/<category>`` for each category."""
    categories = [row for row in summary.rows if row.kind == "category" and not row.variant]
    scores = {f"{benchmark}/{row.name}": row.score for row in categories}
    overall = summary.overall()
    if overall is None and categories:
        weight = sum(max(row.count, 1) for row in categories)
        overall = sum(row.score * max(row.count, 1) for row in categories) / weight
    if overall is not None:
        scores[benchmark] = overall
    return scores


async def benchmark_scores(
    config: LoopToolConfig, out: Path, *, label: str, base_url: str, model: str, checkpoint: str, preamble: str = ""
) -> tuple[dict[str, float], list[str]]:
    """Run the ``eval`` section's slices against ``model`` at ``base_url``; overall score per benchmark.
    ``preamble`` is the training prompt's (``train.preamble``), so prompt-mode cells ask the policy
    as it was trained."""
    from looptool.benchmarks.base import ModelEndpoint
    from looptool.benchmarks.runner.engine import plan_cells, run_plans
    from looptool.benchmarks.runner.settings import EvalSettings

    settings = config.section("eval", EvalSettings)
    endpoint = ModelEndpoint(label=label, base_url=base_url, model=model, preamble=preamble)
    plans = plan_cells(settings, [endpoint], checkpoint=checkpoint)
    results = await run_plans(plans, out)
    scores: dict[str, float] = {}
    errors: list[str] = []
    for result in results:
        if result.summary is not None:
            scores.update(summary_scores(result.plan.benchmark, result.summary))
        errors.extend(f"{result.plan.benchmark}: {error}" for error in result.errors)
    return scores, errors


