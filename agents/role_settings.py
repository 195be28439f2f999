"""What every config section of agent roles shares: structured output, re-asks, prompt
overrides by name (checked against the section's prompt names) and prompt tracing."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class RoleCallSettings(BaseModel):
    """Base of the ``dialogue_synth``, ``jglv`` and ``edde`` sections."""

    model_config = ConfigDict(extra="forbid")

    #: The prompts a section's roles use; ``prompts`` may override only these.
    PROMPT_NAMES: ClassVar[tuple[str, ...]] = ()

    structured_output: Literal["json_schema", "json_object", "prompt"] = Field(
        default="json_schema", description="how a structured reply is asked for"
    )
    parse_retries: int = Field(default=1, ge=0, description="re-asks within a call when a reply does not parse")
    prompts: dict[str, str] = Field(default_factory=dict, description="prompt text overrides by prompt name")
    trace_prompts: bool = Field(
        default=True, description="store the full prompt of every model call in the traces (large runs: off)"
    )

    @field_validator("prompts")
    @classmethod
    def _known_prompts(cls, prompts: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(prompts) - set(cls.PROMPT_NAMES))
        if unknown:
            raise ValueError(f"unknown prompt name(s) {unknown} (known: {', '.join(cls.PROMPT_NAMES)})")
        return prompts
