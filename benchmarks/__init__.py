"""Benchmarks: BFCL-v3 and ACEBench evaluation, model adapters, resumable sweeps.

The extension point is :class:`benchmarks.base.Benchmark` (see its docstring); the runner in
:mod:`benchmarks.runner` drives any registered benchmark against an OpenAI-compatible
endpoint described by :class:`benchmarks.base.ModelEndpoint`.
"""
