"""ACEBench evaluation (English and Chinese): data loading, the ``upstream`` and ``strict``
scorers, the agent episodes against the simulated APIs, and the benchmark adapter."""
