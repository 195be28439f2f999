"""Reading training samples with clear errors, and the deterministic held-out split."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from pydantic import ValidationError

from looptool.errors import UserError
from looptool.jsonl import DataFileError, iter_jsonl_dicts
from looptool.labels import InvalidLabels, check_labels
from looptool.schema import Sample


def load_samples(path: str | Path, *, invalid_labels: InvalidLabels = "refuse") -> list[Sample]:
    """Every sample of a JSONL file; a bad line is reported with its line, id and problem.

    Empty files, labels naming a tool the sample does not offer and label arguments that
    break the tool's schema (refused, or dropped under ``invalid_labels="drop"``) fail here,
    before any model is loaded.
    """
    source = Path(path)
    if not source.is_file():
        raise UserError(f"data file {source} does not exist")
    samples: list[Sample] = []
    try:
        for number, data in enumerate(iter_jsonl_dicts(source), start=1):
            try:
                samples.append(Sample.model_validate(data))
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                field = f" field '{where}':" if where else ""
                message = str(first["msg"]).removeprefix("Value error, ")
                sample_id = data.get("id", "<no id>")
                raise UserError(
                    f"{source}: record {number} (sample {sample_id!r}):{field} {message}"
                ) from None
    except DataFileError as error:
        raise UserError(str(error)) from None
    samples = check_labels(samples, str(source), invalid_labels)
    if not samples:
        raise UserError(f"{source}: the data set is empty (no samples to train on)")
    return samples


class HasId(Protocol):
    @property
    def id(self) -> str: ...


ItemT = TypeVar("ItemT", bound=HasId)


@dataclass(frozen=True)
class Split(Generic[ItemT]):
    """Training items (samples or episodes) and the held-out slice."""

    train: list[ItemT]
    heldout: list[ItemT]


def _rank(seed: int, sample_id: str) -> str:
    return hashlib.sha256(f"{seed}:{sample_id}".encode()).hexdigest()


def split_heldout(samples: list[ItemT], *, fraction: float, limit: int, seed: int) -> Split[ItemT]:
    """Hold out ``min(limit, floor(fraction x n))`` samples chosen by a seeded hash of their
    ids: the same file and seed give the same split in every run (and after a resume)."""
    count = min(limit, math.floor(fraction * len(samples)))
    if count <= 0:
        return Split(train=list(samples), heldout=[])
    order = sorted(range(len(samples)), key=lambda index: _rank(seed, f"{index}:{samples[index].id}"))
    held = set(order[:count])
    return Split(
        train=[sample for index, sample in enumerate(samples) if index not in held],
        heldout=[sample for index, sample in enumerate(samples) if index in held],
    )
