"""The ``dialogue_synth`` config section: variety knobs, stop rules, roles, prompts, validation.

Example (YAML)::

    dialogue_synth:
      concurrency: 16
      tools_offered: {min: 2, max: 5}
      turns: {min: 1, max: 3}
      parallel_share: 0.3
      irrelevance_share: 0.1
      personas: ["a hurried nurse, terse", "a retired teacher, very polite"]
      roles: {assistant: policy}
      prompts: {judge: "... $tools ... $context ... $step ..."}
      validation: {judge: true, grounding: required}

The validation keys (``judge``, ``grounding``, ...) used to sit directly in this section;
recipes that still set them there load unchanged (they are moved under ``validation``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from looptool.agents.role_settings import RoleCallSettings
from looptool.config import register_section
from looptool.graphs.validation.settings import VALIDATION_KEYS, JudgeCall, ValidationSettings
from looptool.roles import ROLE_NAMES

PROMPT_NAMES = ("planner", "user_sim", "assistant", "judge")

DEFAULT_PERSONAS = [
    "a busy professional who writes short, direct messages",
    "a polite retiree who explains things at length",
    "a student who writes casually, in lowercase, with small typos",
    "a non-native English speaker who writes simple sentences",
    "an impatient customer who wants results fast",
    "a careful planner who double-checks every detail",
]


class IntRange(BaseModel):
    """An inclusive integer range sampled uniformly per dialogue."""

    model_config = ConfigDict(extra="forbid")

    min: int = Field(ge=0)
    max: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class DialogueRoles(BaseModel):
    """Which configured model role (``roles.<name>``) each agent uses."""

    model_config = ConfigDict(extra="forbid")

    planner: str = "generator"
    user: str = "user_sim"
    assistant: str = "generator"
    judge: str = "judge"

    @field_validator("planner", "user", "assistant", "judge")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ROLE_NAMES:
            raise ValueError(f"unknown role {value!r} (known: {', '.join(ROLE_NAMES)})")
        return value


class DialogueSynthSettings(RoleCallSettings):
    """Multi-agent dialogue simulation and two-stage validation.

How tools run (executable backends, the simulator's role) is the ``tools`` section's job."""

    PROMPT_NAMES = PROMPT_NAMES

    model_config = ConfigDict(extra="forbid")

    concurrency: int = Field(8, ge=1, description="dialogues simulated at the same time")
    tools_offered: IntRange = Field(
        default_factory=lambda: IntRange(min=1, max=4), description="tools offered per dialogue"
    )
    turns: IntRange = Field(
        default_factory=lambda: IntRange(min=1, max=2), description="user messages planned"
    )
    max_assistant_steps: int = Field(6, ge=1, description="turn cap: assistant steps per dialogue")
    max_tool_failures: int = Field(
        2, ge=1, description="stop after this many consecutive tool steps that all failed"
    )
    parallel_share: float = Field(0.25, ge=0, le=1, description="dialogues asking for parallel calls")
    irrelevance_share: float = Field(
        0.1, ge=0, le=1, description="dialogues where no offered tool fits the task"
    )
    withhold_share: float = Field(
        0.25, ge=0, le=1, description="dialogues where the user first leaves out a needed detail"
    )
    personas: list[str] = Field(default_factory=lambda: list(DEFAULT_PERSONAS), min_length=1)
    roles: DialogueRoles = Field(default_factory=DialogueRoles)
    assistant_retries: int = Field(1, ge=0, description="re-samples of an unparseable assistant reply")
    assistant_demo: bool = Field(
        True, description="show the assistant a one-turn tool-call demonstration before the dialogue"
    )
    validation: ValidationSettings = Field(
        default_factory=ValidationSettings, description="two-stage validation of each dialogue"
    )

    @model_validator(mode="before")
    @classmethod
    def _nest_validation_keys(cls, data: Any) -> Any:
        """Recipes written before ``validation`` existed set its keys flat; nest them."""
        if not isinstance(data, dict) or not any(key in data for key in VALIDATION_KEYS):
            return data
        data = dict(data)
        nested = data.get("validation") or {}
        if isinstance(nested, ValidationSettings):
            nested = nested.model_dump(exclude_unset=True)
        if not isinstance(nested, dict):
            return data  # field validation names the problem
        nested = dict(nested)
        for key in VALIDATION_KEYS:
            if key not in data:
                continue
            if key in nested:
                raise ValueError(f"{key!r} is set both directly and under 'validation'; "
                                 f"keep only validation.{key}")
            nested[key] = data.pop(key)
        data["validation"] = nested
        return data

    @property
    def judge(self) -> bool:
        """Whether the step judge runs (``validation.judge``)."""
        return self.validation.judge

    def judge_call(self) -> JudgeCall:
        """How validation calls the judge: this section's judge role and structured-output knobs."""
        return JudgeCall(role=self.roles.judge, structured_method=self.structured_output,
                         parse_retries=self.parse_retries, record_prompts=self.trace_prompts)



register_section("dialogue_synth", DialogueSynthSettings)
