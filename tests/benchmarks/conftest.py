"""Fixtures of the benchmark tests: one BFCL worker and its data for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from looptool.benchmarks.base import EvalEntry
from looptool.benchmarks.bfcl import BfclV3
from looptool.benchmarks.bfcl.categories import ALL
from looptool.benchmarks.bfcl.worker_client import find_bfcl_python


@pytest.fixture(scope="session")
def bfcl() -> Iterator[BfclV3]:
    try:
        find_bfcl_python()
    except FileNotFoundError as error:
        pytest.fail(str(error))
    benchmark = BfclV3()
    yield benchmark
    benchmark.close()


@pytest.fixture(scope="session")
def bfcl_entries(bfcl: BfclV3) -> dict[str, list[EvalEntry]]:
    """Every BFCL-v3 entry, by category (loaded once: about 6 s)."""
    by_category: dict[str, list[EvalEntry]] = {name: [] for name in ALL}
    for entry in bfcl.load(list(ALL)):
        by_category[entry.category].append(entry)
    return by_category
