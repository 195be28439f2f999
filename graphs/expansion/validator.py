"""How an expanded sample is validated: an injected :class:`SampleValidator`.

The loop controller plugs in the same two-stage validation (rules, then the LLM step judge)
that seed data gets (:func:`looptool.graphs.validation.graph.validate_sample`);
:class:`RulesValidator` is the rules-only default (no model call).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from looptool.graphs.validation.rules import check_sample
from looptool.graphs.validation.settings import ValidationSettings
from looptool.schema import Sample


class Validation(BaseModel):
    """A validator's answer for one sample."""

    model_config = ConfigDict(extra="forbid")

    accepted: bool
    reason: str = ""


class SampleValidator(Protocol):
    """``await validator(sample)`` -> :class:`Validation`."""

    async def __call__(self, sample: Sample) -> Validation: ...


@dataclass(frozen=True)
class RulesValidator:
    """Stage 1 only: the label's calls against the tools' schemas, placeholders, and values
    grounded in the context (:func:`looptool.graphs.validation.rules.check_sample`)."""

    settings: ValidationSettings = field(default_factory=ValidationSettings)

    async def __call__(self, sample: Sample) -> Validation:
        violations = check_sample(sample, self.settings)
        if violations:
            return Validation(accepted=False, reason="; ".join(violation.describe() for violation in violations))
        return Validation(accepted=True)
