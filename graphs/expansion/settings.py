"""Settings of EDDE expansion (the ``edde`` section, registered by the loop controller).

Example (YAML)::

    edde:
      k: 4
      generator: llm                # llm | slots | both (which generators run)
      role: generator               # model role of the llm generator
      temperature: 0.9
      focus: ["persona: ...", "data variation: ..."]
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from looptool.agents.expander import DEFAULT_FOCUS
from looptool.agents.role_settings import RoleCallSettings
from looptool.roles import ROLE_NAMES

PROMPT_NAMES = ("expander", "episode_expander")


class EddeSettings(RoleCallSettings):
    """Expanding error seeds into new hard samples."""

    PROMPT_NAMES = PROMPT_NAMES

    model_config = ConfigDict(extra="forbid")

    k: int = Field(default=4, ge=1, le=32, description="new samples asked per error seed (before validation)")
    generator: Literal["llm", "slots", "both"] = Field(
        default="llm",
        description="llm: the generator role writes k variants (the paper); slots: new slot values for "
        "curated seeds, label checked by execution (no model call); both",
    )
    role: str = Field(default="generator", description="model role (roles.<name>) of the llm generator")
    temperature: float = Field(default=0.9, ge=0, le=2, description="sampling temperature of the generator")
    focus: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FOCUS), min_length=1,
        description="scenario focuses (complexity, persona, interaction style, data variation); "
        "one is drawn per request",
    )
    seed: int = Field(default=0, description="seed of the focus draw (per error seed and iteration)")
    generator_retries: int = Field(
        default=1, ge=0, description="further tries of a generator call that failed (error, timeout, unusable reply)"
    )
    timeout_s: float | None = Field(
        default=None, gt=0, description="wall-clock cap per generator call (default: the role's HTTP timeout)"
    )

    @field_validator("role")
    @classmethod
    def _known_role(cls, role: str) -> str:
        if role not in ROLE_NAMES:
            raise ValueError(f"unknown model role {role!r} (known: {', '.join(ROLE_NAMES)})")
        return role


    @field_validator("focus")
    @classmethod
    def _no_blank_focus(cls, focus: list[str]) -> list[str]:
        if any(not item.strip() for item in focus):
            raise ValueError("a focus entry is empty")
        return focus

    def draw_focus(self, seed_id: str, iteration: int = 0, request: int = 0) -> str:
        """The focus of one generator request, drawn from ``focus`` by a generator seeded with
        ``seed``, the seed sample, the iteration and the request number (stable on rerun)."""
        rng = random.Random(f"{self.seed}|{seed_id}|{iteration}|{request}")
        return rng.choice(self.focus)
