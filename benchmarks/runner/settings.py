"""The ``eval`` config section: what to evaluate, on which models, and how hard to push."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from looptool.benchmarks.base import EndpointMode, ModelEndpoint, leaderboard_sampling
from looptool.config import SamplingSettings, register_section


class CheckpointSpec(BaseModel):
    """A model folder (or ``embedded``) that the sweep serves itself with vLLM
    (:class:`looptool.serve.VllmServer`, settings from the ``serve`` section), one at a time,
    and evaluates in each of ``modes``."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(description="name in reports, e.g. 'policy@iter2'")
    path: str = Field(description="model folder (safetensors) or 'embedded'")
    modes: list[EndpointMode] = Field(default_factory=lambda: [EndpointMode.PROMPT_PYTHON])
    mode_benchmarks: dict[EndpointMode, list[str]] = Field(
        default_factory=dict,
        description="per mode, the benchmarks to run in it (default: every eval.benchmarks one), e.g. "
        "{function_calling: [bfcl_v3]} when ACEBench should only run with its upstream prompt",
    )
    sampling: SamplingSettings = Field(
        default_factory=leaderboard_sampling, description="default: temperature 0, top_p 1, max_tokens 4096, seed 0"
    )
    concurrency: int = Field(default=8, ge=1, le=1024)
    timeout_s: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _modes_known(self) -> CheckpointSpec:
        extra = set(self.mode_benchmarks) - set(self.modes)
        if extra:
            raise ValueError(
                f"checkpoint {self.label!r}: mode_benchmarks names mode(s) {sorted(m.value for m in extra)} "
                f"that are not in its modes {[m.value for m in self.modes]}"
            )
        return self

    def benchmarks_for(self, mode: EndpointMode, benchmarks: list[str]) -> list[str]:
        """The benchmarks this checkpoint runs in ``mode`` (in ``eval.benchmarks`` order)."""
        chosen = self.mode_benchmarks.get(mode)
        return list(benchmarks) if chosen is None else [name for name in benchmarks if name in chosen]


class EvalSettings(BaseModel):
    """``eval:`` section of a recipe (used by ``looptool eval`` and ``looptool sweep``)."""

    model_config = ConfigDict(extra="forbid")

    benchmarks: list[str] = Field(default_factory=lambda: ["bfcl_v3"], description="registry names")
    categories: dict[str, list[str]] = Field(
        default_factory=dict, description="per benchmark: categories or aliases (default: all)"
    )
    limit: int | None = Field(default=None, ge=1, description="at most N entries per category")
    benchmark_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per benchmark: its Options (e.g. acebench: {language: en})"
    )
    models: list[ModelEndpoint] = Field(default_factory=list, description="already-served endpoints")
    checkpoints: list[CheckpointSpec] = Field(default_factory=list, description="folders the sweep serves")
    concurrency: int | None = Field(default=None, ge=1, description="overrides every model's concurrency")
    chart: bool = True

    @model_validator(mode="after")
    def _unique_labels(self) -> EvalSettings:
        seen: set[str] = set()
        for endpoint in self.models:
            key = endpoint.cell_name
            if key in seen:
                raise ValueError(f"two models share label+mode {key!r}; give them distinct labels")
            seen.add(key)
        return self


register_section("eval", EvalSettings)
