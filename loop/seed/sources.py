"""What a seed sample is: its source (curated, imported, dialogues), the source item it was
cut from, and its category.

The **source item** is the unit the held-out split keeps on one side: a curated template
id, a simulated dialogue's id, an imported file's ``path:line``. It is read from
``lineage.source_item``, else ``lineage.dialogue_id``, else the sample's own id.
"""

from __future__ import annotations

from typing import Literal

from looptool.loop.seed.metadata import CuratedOrigin, curated_origin, own_context
from looptool.schema import OriginKind, Role, Sample

SourceKind = Literal["curated", "imported", "dialogues", "other"]

#: Every source kind, in report order.
SOURCE_KINDS: tuple[SourceKind, ...] = ("curated", "imported", "dialogues", "other")

#: The category of a non-curated sample whose label is a text reply (curated templates
#: say whether it is ``missing_params`` or ``irrelevance``; other sources do not).
TEXT_REPLY = "text_reply"


def source_item(sample: Sample) -> str:
    """The source item of ``sample`` (template id, dialogue id, ``file:line``, or its id)."""
    return sample.lineage.source_item or sample.lineage.dialogue_id or sample.id


def source_kind(sample: Sample) -> SourceKind:
    """Which seed source a sample came from."""
    if CuratedOrigin.METADATA_KEY in sample.metadata:
        return "curated"
    if sample.lineage.origin == OriginKind.IMPORTED:
        return "imported"
    if sample.lineage.dialogue_id is not None:
        return "dialogues"
    return "other"


def sample_category(sample: Sample) -> str:
    """The curated category, or one inferred from the shape of the sample: ``multi_turn``
    (earlier assistant turns), ``parallel`` (several calls), ``single``/``multiple`` (one
    call, one/several tools offered) or ``text_reply``."""
    origin = curated_origin(sample)
    if origin is not None:
        return origin.category
    if any(message.role == Role.ASSISTANT for message in own_context(sample)):
        return "multi_turn"
    if len(sample.label_calls) > 1:
        return "parallel"
    if len(sample.label_calls) == 1:
        return "single" if len(sample.tools) == 1 else "multiple"
    return TEXT_REPLY
