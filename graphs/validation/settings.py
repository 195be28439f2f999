"""Settings of two-stage validation, shared by every stage that validates (seed dialogues,
expanded samples).

A config section embeds :class:`ValidationSettings` as its ``validation`` key (e.g.
``dialogue_synth.validation``); how the judge's model is called (which configured role, the
structured-output method, parse retries) comes from that section's role settings as a
:class:`JudgeCall`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from looptool.agents.role_call import StructuredMethod

Grounding = Literal["required", "all", "off"]


class ValidationSettings(BaseModel):
    """What the rules check and whether the step judge runs after them."""

    model_config = ConfigDict(extra="forbid")

    judge: bool = Field(default=True, description="run the LLM step judge after the rules")
    grounding: Grounding = Field(
        default="required", description="which argument values must appear in the text before the call"
    )
    grounding_min_overlap: float = Field(
        default=0.5, ge=0, le=1, description="share of a string value's words that must occur earlier"
    )
    require_tool_call: bool = Field(
        default=True,
        description="dialogues only: reject one whose task needs tools when the assistant never called one",
    )
    accept_stop_reasons: list[str] = Field(
        default_factory=lambda: ["plan_complete", "turn_cap"],
        description="dialogues only: stop reasons a dialogue may end with and still be accepted",
    )


#: The keys of :class:`ValidationSettings` (older recipes set them flat in ``dialogue_synth``).
VALIDATION_KEYS: tuple[str, ...] = tuple(ValidationSettings.model_fields)


@dataclass(frozen=True)
class JudgeCall:
    """How the step judge's model is called: the configured role it runs as (for traces and
    usage) and the structured-output knobs of the enclosing section."""

    role: str = "judge"
    structured_method: StructuredMethod = "json_schema"
    parse_retries: int = 1
    record_prompts: bool = True


@runtime_checkable
class ValidatingSection(Protocol):
    """A config section that embeds validation settings (e.g. ``dialogue_synth``)."""

    @property
    def validation(self) -> ValidationSettings: ...

    def judge_call(self) -> JudgeCall: ...
