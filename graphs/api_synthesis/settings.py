"""The ``api_synth`` config section (registered with :func:`looptool.config.register_section`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from looptool.agents.api_generator import ApiGeneratorPrompts
from looptool.config import register_section

SECTION = "api_synth"


class ApiSynthSettings(BaseModel):
    """API synthesis from the context tree x the constraint tree."""

    model_config = ConfigDict(extra="forbid")

    context_tree: str | None = Field(
        default=None, description="context tree YAML (default: configs/trees/context_tree.yaml)"
    )
    constraint_tree: str | None = Field(
        default=None, description="constraint tree YAML (default: configs/trees/constraint_tree.yaml)"
    )
    seed: int | None = Field(default=None, description="sampling seed (default: run.seed)")
    concurrency: int = Field(default=8, ge=1, description="requests in flight at once")
    max_attempts: int = Field(
        default=3, ge=1, description="generation attempts per request (1 + retries with feedback)"
    )
    min_description_chars: int = Field(default=12, ge=0, description="shortest function description")
    min_function_name_words: int = Field(
        default=2, ge=1, description="words in a function name (so the convention is visible)"
    )
    duplicate_schema_min_params: int = Field(
        default=2, ge=1, description="schemas with fewer parameters are not compared for duplicates"
    )
    reject_example_copies: bool = Field(
        default=True, description="treat a copy of the prompt's one-shot example as a duplicate"
    )
    max_tokens: int | None = Field(
        default=1024, ge=64, description="completion token cap for the generator (None: role default)"
    )
    temperature: float | None = Field(
        default=None, ge=0.0, description="sampling temperature (None: the generator role's)"
    )
    prompts: ApiGeneratorPrompts = Field(default_factory=ApiGeneratorPrompts)


register_section(SECTION, ApiSynthSettings)
