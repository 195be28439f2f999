"""BFCL-v3 (Berkeley Function Calling Leaderboard) adapter: ``bfcl_v3`` in the registry."""

from looptool.benchmarks.bfcl.adapter import BfclOptions, BfclV3, ground_truth_output

__all__ = ["BfclOptions", "BfclV3", "ground_truth_output"]
