"""JGLV's verdict about a probe mismatch, in a module of its own so that readers of run files
(``looptool.loop.records``, the run browser) need neither langchain nor the judge's prompts.

:mod:`looptool.agents.label_judge` re-exports :class:`Verdict`.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """The outcome for one mismatch. A judge votes one of the first four; a vote whose judge
    failed is ``UNJUDGED``; a panel without a majority gives ``UNDECIDED``."""

    PRED_WRONG = "PRED_WRONG"  # the label is right, the prediction wrong
    LABEL_WRONG = "LABEL_WRONG"  # the prediction is right, the label wrong
    BOTH_CORRECT = "BOTH_CORRECT"
    BOTH_WRONG = "BOTH_WRONG"
    UNDECIDED = "UNDECIDED"
    UNJUDGED = "UNJUDGED"
