"""Settings of JGLV judging (the ``jglv`` section, registered by the loop controller).

Example (YAML)::

    jglv:
      judges: [judge, generator]   # model roles, one panel seat each
      panel_size: 3                # seats, filled by cycling through judges
      orders: both                 # every seat judges label-first and prediction-first
      judge_retries: 1
      timeout_s: 120
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from looptool.agents.role_settings import RoleCallSettings
from looptool.roles import ROLE_NAMES

PROMPT_NAMES = ("label_judge", "episode_judge")


class PanelSeat(BaseModel):
    """One seat of the judge panel: its name (in votes and traces) and its model role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    role: str


class JglvSettings(RoleCallSettings):
    """Judging probe mismatches: execution evidence, then a panel of LLM judges."""

    PROMPT_NAMES = PROMPT_NAMES

    model_config = ConfigDict(extra="forbid")

    judges: list[str] = Field(
        default_factory=lambda: ["judge"], min_length=1,
        description="model roles (roles.<name>) of the panel's judges; the same role may repeat",
    )
    panel_size: int | None = Field(
        default=None, ge=1,
        description="seats on the panel, filled by cycling through `judges` (default: one per entry)",
    )
    orders: Literal["random", "both"] = Field(
        default="random",
        description="random: each seat sees label and prediction in a seeded random A/B order; "
        "both: each seat judges both orders (two votes) and position disagreement is recorded",
    )
    seed: int = Field(default=0, description="seed of the random A/B order (per sample and seat)")
    execution_evidence: bool = Field(
        default=True, description="run label and prediction on executable backends when all tools have one"
    )
    judge_retries: int = Field(
        default=1, ge=0, description="further tries of a judge call that failed (error, timeout, unusable reply)"
    )
    timeout_s: float | None = Field(
        default=None, gt=0, description="wall-clock cap per judge call (default: the role's HTTP timeout)"
    )

    @field_validator("judges")
    @classmethod
    def _known_roles(cls, judges: list[str]) -> list[str]:
        unknown = sorted({role for role in judges if role not in ROLE_NAMES})
        if unknown:
            raise ValueError(f"unknown model role(s) {unknown} (known: {', '.join(ROLE_NAMES)})")
        return judges


    @model_validator(mode="after")
    def _seats_fit(self) -> JglvSettings:
        if self.panel_size is not None and self.panel_size < len(self.judges):
            raise ValueError(
                f"panel_size ({self.panel_size}) is smaller than the number of judges listed ({len(self.judges)})"
            )
        return self

    def seats(self) -> list[PanelSeat]:
        """The panel's seats; a role that sits more than once is numbered (``judge#2``)."""
        size = self.panel_size or len(self.judges)
        roles = [self.judges[index % len(self.judges)] for index in range(size)]
        seats: list[PanelSeat] = []
        for index, role in enumerate(roles):
            repeat = roles[:index].count(role)
            name = role if roles.count(role) == 1 else f"{role}#{repeat + 1}"
            seats.append(PanelSeat(name=name, role=role))
        return seats
