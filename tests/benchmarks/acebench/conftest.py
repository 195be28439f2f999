"""Shared fixtures: the ACEBench adapter over the real data folder (../shared/acebench)."""

from __future__ import annotations

import pytest

from looptool.benchmarks.acebench import AceBench
from looptool.benchmarks.acebench.paths import AceBenchDataError, resolve_data_dir
from looptool.benchmarks.base import EvalEntry


@pytest.fixture(scope="session")
def acebench_root():
    try:
        return resolve_data_dir()
    except AceBenchDataError as error:  # pragma: no cover - the data ships with the project
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def bench(acebench_root) -> AceBench:
    return AceBench({"data_dir": str(acebench_root)})


@pytest.fixture(scope="session")
def all_entries(bench: AceBench) -> list[EvalEntry]:
    return bench.load(bench.categories())
