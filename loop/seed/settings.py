"""The ``seed`` config section: where the loop's seed set D_1 comes from and how it is split.

Example (YAML)::

    seed:
      sources:
        curated: {enabled: true, categories: [single, parallel, multi_turn], tool_sets: [calculator]}
        imported: [data/my_tool_chats.jsonl]
        dialogues: 16
      demonstrations: 1
      heldout_fraction: 0.1
      seed: 0
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from looptool.config import register_section
from looptool.loop.seed.templates import CATEGORIES, Category

SECTION = "seed"


class CuratedSource(BaseModel):
    """The curated templates shipped in ``loop/seed/curated/``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    categories: list[Category] = Field(
        default_factory=lambda: list(CATEGORIES), description="which categories to instantiate"
    )
    tool_sets: list[str] | None = Field(
        default=None, description="calculator, filesystem, calendar, travel_tools; null: all"
    )
    instances: int | None = Field(
        default=None, ge=1, description="instances per template; null: as each file says"
    )
    folder: str | None = Field(
        default=None, description="a folder of template files instead of the shipped one"
    )


class SeedSources(BaseModel):
    """Where seed samples come from."""

    model_config = ConfigDict(extra="forbid")

    curated: CuratedSource = Field(default_factory=CuratedSource)
    imported: list[str] = Field(
        default_factory=list, description="OpenAI-messages JSONL files ({messages, tools} per line)"
    )
    dialogues: int = Field(
        default=0, ge=0,
        description="dialogues the loop controller simulates with graphs/dialogue (0: none)",
    )


class SeedSettings(BaseModel):
    """``seed:`` section."""

    model_config = ConfigDict(extra="forbid")

    sources: SeedSources = Field(default_factory=SeedSources)
    demonstrations: int = Field(
        default=1, ge=0, le=8, description="demonstration exchanges put before each sample"
    )
    heldout_fraction: float = Field(
        default=0.1, ge=0.0, lt=1.0, description="share of source items held out"
    )
    seed: int = Field(default=0, description="slot values, split and demonstrations")


register_section(SECTION, SeedSettings)
