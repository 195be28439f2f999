"""ACEBench evaluation (English and Chinese): data loading, the ``upstream`` and ``strict``
scorers, the agent episodes against the simulated APIs, and the benchmark adapter
(registered as ``acebench`` in :mod:`benchmarks.base`'s registry on import)."""

from looptool.benchmarks.acebench.adapter import AceBench, AceBenchOptions

__all__ = ["AceBench", "AceBenchOptions"]
