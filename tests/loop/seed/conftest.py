"""Shared fixtures: the shipped curated set, expanded once per test session."""

from __future__ import annotations

import pytest

from looptool.loop.seed import CuratedExpansion, expand_curated
from looptool.schema import Sample


@pytest.fixture(scope="session")
def curated() -> CuratedExpansion:
    return expand_curated(seed=0)


@pytest.fixture(scope="session")
def curated_samples(curated: CuratedExpansion) -> list[Sample]:
    return curated.samples
