"""The typed records this package keeps in ``Sample.metadata``.

* ``metadata["curated"]`` (:class:`CuratedOrigin`): the template, tool set, category, slot
  values and scenario a curated sample (or a slot expansion of one) was made from;
* ``metadata["demonstrations"]`` (:class:`DemonstrationInfo`): the demonstration exchanges
  prepended to the context by :func:`looptool.loop.seed.demos.with_demonstrations`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from looptool.loop.seed.templates import Category
from looptool.schema import Message, Role, Sample


class CuratedOrigin(BaseModel):
    """``Sample.metadata["curated"]``: the template and slot values a sample was made from."""

    model_config = ConfigDict(extra="forbid")

    METADATA_KEY: ClassVar[str] = "curated"

    template_id: str
    tool_set: str
    category: Category
    slots: dict[str, Any] = Field(default_factory=dict)
    scenario: dict[str, Any] | None = None


def curated_origin(sample: Sample) -> CuratedOrigin | None:
    """The curated record of ``sample``, or None for samples of other sources."""
    raw = sample.metadata.get(CuratedOrigin.METADATA_KEY)
    return CuratedOrigin.model_validate(raw) if raw is not None else None


class DemonstrationInfo(BaseModel):
    """``Sample.metadata["demonstrations"]``: the demonstration exchanges at the start of the
    context (after any system message), taken from other samples."""

    model_config = ConfigDict(extra="forbid")

    METADATA_KEY: ClassVar[str] = "demonstrations"

    sources: list[str] = Field(default_factory=list, description="ids of the demo samples")
    messages: int = Field(default=0, ge=0, description="non-system messages they take")


def demonstration_info(sample: Sample) -> DemonstrationInfo | None:
    raw = sample.metadata.get(DemonstrationInfo.METADATA_KEY)
    return DemonstrationInfo.model_validate(raw) if raw is not None else None


def demonstration_messages(sample: Sample) -> int:
    """How many leading non-system context messages are demonstrations."""
    info = demonstration_info(sample)
    return info.messages if info is not None else 0


def own_context(sample: Sample) -> list[Message]:
    """The non-system context messages that belong to the sample itself (demos removed)."""
    rest = [message for message in sample.context if message.role != Role.SYSTEM]
    return rest[demonstration_messages(sample):]
