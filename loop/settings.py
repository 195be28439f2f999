"""The ``pipeline`` config section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from looptool.config import register_section


class PipelineSettings(BaseModel):
    """``pipeline:`` section: how much work each stage of the static pipeline does."""

    model_config = ConfigDict(extra="forbid")

    dialogues: int = Field(default=8, ge=1, description="seed dialogues to simulate")
    evaluate: bool = Field(default=True, description="evaluate the base and the trained model")
    base_label: str = "base"
    trained_label: str = "grpo"


register_section("pipeline", PipelineSettings)
