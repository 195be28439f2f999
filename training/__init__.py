"""GRPO training for tool calling with TRL: Sample -> prompt/label, rewards, trainer, report.

Importing the package registers the ``train`` config section.
"""

from looptool.training.settings import LoraSettings, TrainSettings

__all__ = ["LoraSettings", "TrainSettings"]
