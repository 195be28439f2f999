"""Fixtures shared with the training tests: the tiny random policy."""

from tests.training.conftest import tiny_model_dir  # noqa: F401  (a pytest fixture)
