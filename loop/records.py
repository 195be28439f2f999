"""What the loop's stages write: one typed record per item, one summary per iteration.

Run folder layout (``looptool run``)::

    RUN/seed/                 train.jsonl, heldout.jsonl, seed_report.json   (stage "seed")
    RUN/<mode>/iter_<j>/      one folder per iteration of one mode (loop, static, ablations)
        data.jsonl            D_j, the samples this iteration trains on
        train/                the GRPO run (train_report.json, model/, adapter/)
        probe/                probe.journal.jsonl -> probe.jsonl (ProbeRecord per sample)
        eval/                 held-out ToolMatch (heldout.jsonl) + benchmark cells
        judge/                judge.journal.jsonl -> verdicts.jsonl (JudgeRecord per mismatch)
        expand/               expand.journal.jsonl -> expansions.jsonl (accepted samples)
        compose/              next.jsonl (D_{j+1}), composition.json
        episodes.jsonl        E_j (loop.episodes on): the episodes this iteration trains on
        episode_train/        the episode GRPO phase (from train/'s model): policy_j
        episode_probe/        episode_probe.journal.jsonl -> outcomes.jsonl (EpisodeOutcome per episode)
        episode_eval/         held-out episodes: outcomes.jsonl, scores.json
        episode_judge/        verdicts.jsonl (EpisodeJudgeRecord per failed episode)
        episode_expand/       expansions.jsonl (accepted episodes), outcomes.jsonl (EpisodeExpansionRecord)
        episode_compose/      next.jsonl (E_{j+1}), composition.json
        iteration.json        IterationSummary
    RUN/seed/episodes/        train.jsonl, heldout.jsonl (loop.episodes on; stage "seed/episodes")
    RUN/base/episode_eval/    the base model on the held-out episodes
    RUN/run_report.json       RunReport (every mode, every iteration)
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from looptool.episodes import Episode
from looptool.loop.verdicts import Verdict
from looptool.schema import Sample, ToolCall


class LoopMode(StrEnum):
    """How a run composes the next iteration's data."""

    LOOP = "loop"  # the full loop: probe -> judge -> expand -> compose
    STATIC = "static"  # same budget and steps, seed data only (the paper's baseline)
    NO_HPPL = "no_hppl"  # ablation: no high-perplexity selection
    NO_JGLV = "no_jglv"  # ablation: no judge; every mismatch is an error seed with its label
    NO_EDDE = "no_edde"  # ablation: no error-driven expansion


class ProbeRecord(BaseModel):
    """GCP's result for one sample: the greedy prediction, ToolMatch, perplexity."""

    model_config = ConfigDict(extra="forbid")

    sample_id: str
    completion: str
    predicted_calls: list[ToolCall] = Field(default_factory=list)
    predicted_text: str | None = None
    parse_error: str | None = None
    matched: bool
    perplexity: float | None = None
    perplexity_of: str | None = Field(default=None, description="label | greedy")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None


class JudgeRecord(BaseModel):
    """JGLV's outcome for one mismatched sample and what the loop did with it."""

    model_config = ConfigDict(extra="forbid")

    sample_id: str
    verdict: Verdict
    decided_by: str = Field(description="execution | panel | unjudged | ablation")
    analysis: str = ""
    position_disagreement: bool | None = None
    action: str = Field(description="error_seed | relabeled | kept_high_ppl | dropped | relabel_rejected")
    new_sample_id: str | None = None
    sample: Sample | None = Field(default=None, description="the sample the action yields (relabeled: the new one)")
    reason: str = ""
    detail: dict[str, object] = Field(default_factory=dict, description="the full verdict (votes, evidence)")


class ExpansionRecord(BaseModel):
    """EDDE's outcome for one error seed."""

    model_config = ConfigDict(extra="forbid")

    seed_id: str
    generator: str = Field(description="llm | slots")
    asked: int
    produced: int
    accepted_ids: list[str] = Field(default_factory=list)
    rejected: list[str] = Field(default_factory=list, description="one reason per rejected sample")
    heldout_duplicates: int = 0
    error: str | None = None


class EpisodeJudgeRecord(BaseModel):
    """JGLV's outcome for one failed episode and what the loop did with it."""

    model_config = ConfigDict(extra="forbid")

    episode_id: str
    verdict: Verdict
    decided_by: str = Field(description="panel | unjudged | ablation")
    analysis: str = ""
    action: str = Field(description="error_seed | relabeled | relabel_rejected | dropped")
    new_episode_id: str | None = None
    episode: Episode | None = Field(default=None, description="the episode the action yields (relabeled: the new one)")
    reason: str = ""
    detail: dict[str, object] = Field(default_factory=dict, description="the full verdict (votes)")


class EpisodeExpansionRecord(BaseModel):
    """EDDE's outcome for one error-seed episode."""

    model_config = ConfigDict(extra="forbid")

    seed_id: str
    asked: int
    produced: int
    accepted_ids: list[str] = Field(default_factory=list)
    accepted: list[Episode] = Field(default_factory=list, description="the accepted variants")
    rejected: list[str] = Field(default_factory=list, description="one reason per rejected variant")
    error: str | None = None


class EpisodeIterationSummary(BaseModel):
    """The episode side of one iteration (``loop.episodes`` on)."""

    model_config = ConfigDict(extra="forbid")

    trained_on: int = 0
    train_steps: int = 0
    probed: int = 0
    succeeded: int = 0
    stop_reasons: dict[str, int] = Field(default_factory=dict)
    verdicts: dict[str, int] = Field(default_factory=dict)
    relabeled: int = 0
    relabel_rejected: int = 0
    error_seeds: int = 0
    expansions_asked: int = 0
    expansions_accepted: int = 0
    expansions_rejected: dict[str, int] = Field(default_factory=dict, description="rejections by reason kind")
    next_size: int = 0
    next_counts: dict[str, int] = Field(default_factory=dict, description="error_seeds, expansions, fresh")
    heldout_success: float | None = Field(default=None, description="end-state success on the held-out episodes")
    heldout_episodes: int = 0


class StageTime(BaseModel):
    stage: str
    seconds: float
    skipped: bool = False


class IterationSummary(BaseModel):
    """One iteration of one mode: what the loop found, fixed and generated (the paper's Table 3)."""

    model_config = ConfigDict(extra="forbid")

    mode: LoopMode
    iteration: int
    trained_on: int = 0
    train_steps: int = 0
    policy: str | None = None
    probed: int = 0
    mastered: int = 0
    mismatched: int = 0
    probe_failed: int = 0
    high_ppl: int = 0
    verdicts: dict[str, int] = Field(default_factory=dict)
    decided_by_execution: int = 0
    position_disagreements: int = 0
    relabeled: int = 0
    error_seeds: int = 0
    expansions_asked: int = 0
    expansions_accepted: int = 0
    expansion_yield_by_generator: dict[str, float] = Field(default_factory=dict)
    heldout_duplicates_removed: int = 0
    next_size: int = 0
    next_counts: dict[str, int] = Field(default_factory=dict, description="error_seeds, expansions, high_ppl, fresh")
    heldout_accuracy: float | None = None
    benchmark_accuracy: dict[str, float] = Field(default_factory=dict)
    stage_times: list[StageTime] = Field(default_factory=list)
    tokens_by_role: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list, description="stages that produced nothing, and why")
    episodes: EpisodeIterationSummary | None = Field(default=None, description="loop.episodes on: the episode side")


class RunReport(BaseModel):
    """``run_report.json``: the seed set and every iteration of every mode."""

    model_config = ConfigDict(extra="forbid")

    run_dir: str
    seed_counts: dict[str, int] = Field(default_factory=dict, description="samples per source")
    seed_categories: dict[str, int] = Field(default_factory=dict)
    heldout_size: int = 0
    base_heldout_accuracy: float | None = None
    base_benchmark_accuracy: dict[str, float] = Field(default_factory=dict)
    episode_heldout_size: int = 0
    base_episode_success: float | None = Field(default=None, description="the base model's held-out end-state success")
    iterations: list[IterationSummary] = Field(default_factory=list)
    contamination: list[str] = Field(default_factory=list, description="tools overlapping evaluated benchmarks")
