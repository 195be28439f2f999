"""The cheap EDDE generator (``edde.generator: slots``): new slot values for a curated seed.

Given a curated sample (one with ``metadata["curated"]``), :func:`expand_by_slots` draws new
values for its template's slots (pools, ranges, dates, the tools' schema enums), re-renders
the user text, context and label, checks the label by execution (or schema, for library
tools) and returns up to ``n`` new samples: lineage origin ``expanded``, parent the seed,
the seed's source item kept (so the held-out split treats them as the seed's template).
A variant never repeats the seed's slot values, another variant's, or those of the samples
passed as ``avoid``. The seed's demonstrations are copied into each variant.

A sample without a curated record cannot be expanded this way: :class:`NotExpandableError`
(use :func:`can_expand_by_slots` to filter first).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping
from typing import Any

from looptool.loop.seed.catalog import Catalog, TemplateError, load_catalog
from looptool.loop.seed.instantiate import SampleIdentity, draw_instances
from looptool.loop.seed.metadata import (
    DemonstrationInfo,
    curated_origin,
    demonstration_info,
    demonstration_messages,
)
from looptool.loop.seed.slots import values_key
from looptool.loop.seed.sources import source_item
from looptool.schema import Lineage, Message, OriginKind, Role, Sample

GENERATOR_NOTE = "generator:slots"


class NotExpandableError(ValueError):
    """The sample has no template + slot record, or its template is gone."""


def can_expand_by_slots(sample: Sample, catalog: Catalog | None = None) -> bool:
    """Whether :func:`expand_by_slots` can vary ``sample`` (curated, template still known)."""
    origin = curated_origin(sample)
    if origin is None:
        return False
    return origin.template_id in (catalog or load_catalog()).templates


def _demo_prefix(sample: Sample) -> list[Message]:
    """The seed's demonstration messages (after its leading system messages)."""
    count = demonstration_messages(sample)
    lead = next((index for index, message in enumerate(sample.context)
                 if message.role != Role.SYSTEM), len(sample.context))
    return list(sample.context[lead:lead + count])


def expand_by_slots(
    sample: Sample,
    n: int,
    rng: random.Random,
    *,
    avoid: Iterable[Sample] = (),
    iteration: int | None = None,
    stage: str = "edde",
    catalog: Catalog | None = None,
) -> list[Sample]:
    """Up to ``n`` new, label-checked variants of a curated ``sample`` (fewer when its slots
    run out of new values; never a duplicate). Raises :class:`NotExpandableError` for a
    sample without a curated record."""
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    origin = curated_origin(sample)
    if origin is None:
        raise NotExpandableError(
            f"sample {sample.id!r} has no template/slot record (metadata['curated']); only "
            "curated seed samples can be expanded by slots"
        )
    catalog = catalog or load_catalog()
    try:
        bound = catalog.template(origin.template_id)
    except TemplateError as error:
        raise NotExpandableError(f"sample {sample.id!r}: {error}") from None
    taken = {values_key(origin.slots)}
    for other in avoid:
        other_origin = curated_origin(other)
        if other_origin is not None and other_origin.template_id == origin.template_id:
            taken.add(values_key(other_origin.slots))
    item = source_item(sample)
    when = sample.lineage.iteration if iteration is None else iteration

    def identity(values: Mapping[str, Any]) -> SampleIdentity:
        digest = hashlib.sha256(values_key(values).encode()).hexdigest()[:6]
        return SampleIdentity(
            sample_id=f"{sample.id}-x{digest}",
            lineage=Lineage(origin=OriginKind.EXPANDED, parent_id=sample.id, iteration=when,
                            stage=stage, source_item=item,
                            notes=[GENERATOR_NOTE, f"curated:{origin.template_id}"]),
        )

    variants = draw_instances(bound, n, rng, avoid=taken, identity_for=identity).samples
    info = demonstration_info(sample)
    if info is None:
        return variants
    prefix = _demo_prefix(sample)
    return [
        variant.model_copy(update={
            "context": [*prefix, *variant.context],
            "metadata": {**variant.metadata,
                         DemonstrationInfo.METADATA_KEY: info.model_dump(mode="json")},
        })
        for variant in variants
    ]
