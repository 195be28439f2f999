"""The fixed held-out slice, split by source item, and the de-duplication key.

:func:`split_heldout` never cuts a source item (a curated template, a simulated dialogue,
an imported line; see :func:`~looptool.loop.seed.sources.source_item`): all its samples go
to one side. Items are grouped by (source kind, category) and within each group ranked by a
seeded hash of the item; the first ``round(fraction x items)`` are held out. The same
samples and seed give the same split in every run and after a resume, whatever the order
of the input.

:func:`dedup_key` is normalized user text + call signature; :func:`drop_heldout_duplicates`
removes the samples whose key equals a held-out sample's (e.g. a slot expansion or an
imported line that repeats a held-out request).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from looptool.loop.seed.metadata import own_context
from looptool.loop.seed.sources import sample_category, source_item, source_kind
from looptool.schema import Role, Sample


@dataclass(frozen=True)
class SeedSplit:
    """Training samples and the held-out slice (input order kept on both sides)."""

    train: list[Sample]
    heldout: list[Sample]


def _rank(seed: int, item: str) -> str:
    return hashlib.sha256(f"{seed}:{item}".encode()).hexdigest()


def heldout_items(samples: Iterable[Sample], fraction: float, seed: int) -> set[str]:
    """The source items held out (see the module docstring)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    kinds: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for sample in samples:
        kinds[source_item(sample)].add((source_kind(sample), sample_category(sample)))
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for item, found in kinds.items():
        groups[min(found)].add(item)  # an item whose turns differ in category counts once
    held: set[str] = set()
    for items in groups.values():
        count = math.floor(fraction * len(items) + 0.5)
        held.update(sorted(items, key=lambda item: _rank(seed, item))[:count])
    return held


def split_heldout(samples: Sequence[Sample], fraction: float, seed: int) -> SeedSplit:
    """Hold out about ``fraction`` of the source items of each (source, category) group."""
    held = heldout_items(samples, fraction, seed)
    return SeedSplit(
        train=[sample for sample in samples if source_item(sample) not in held],
        heldout=[sample for sample in samples if source_item(sample) in held],
    )


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize_text(text: str) -> str:
    """Case-folded, NFKC, punctuation and runs of space collapsed to one space."""
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _canonical(value: Any) -> Any:
    """JSON-shaped value with integral floats as ints (``1.0`` and ``1`` are one argument)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value


def call_signature(sample: Sample) -> str:
    """Sorted ``name(canonical JSON arguments)`` of the label calls; ``<text reply>`` for a
    text label."""
    if not sample.label_calls:
        return "<text reply>"
    calls = sorted(
        f"{call.name}({json.dumps(_canonical(call.arguments), sort_keys=True, ensure_ascii=False, separators=(',', ':'))})"
        for call in sample.label_calls
    )
    return " ".join(calls)


def last_user_text(sample: Sample) -> str:
    """The sample's own last user message (demonstrations excluded)."""
    for message in reversed(own_context(sample)):
        if message.role == Role.USER:
            return message.content
    return ""


def dedup_key(sample: Sample) -> str:
    """``<normalized last user text> => <call signature>``."""
    return f"{normalize_text(last_user_text(sample))} => {call_signature(sample)}"


@dataclass(frozen=True)
class DedupResult:
    """Samples kept and samples dropped because a held-out sample has the same key."""

    kept: list[Sample]
    dropped: list[Sample] = field(default_factory=list)


def drop_heldout_duplicates(samples: Iterable[Sample], heldout: Iterable[Sample]) -> DedupResult:
    """Remove from ``samples`` every sample whose :func:`dedup_key` is a held-out sample's."""
    held_keys = {dedup_key(sample) for sample in heldout}
    kept: list[Sample] = []
    dropped: list[Sample] = []
    for sample in samples:
        (dropped if dedup_key(sample) in held_keys else kept).append(sample)
    return DedupResult(kept=kept, dropped=dropped)
