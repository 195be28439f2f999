"""Scripted judge replies for the JGLV tests (the model itself is ``tests.fake_models``)."""

from __future__ import annotations

import json


def judge_json(correct: str, analysis: str = "checked") -> str:
    """A judge verdict as the model would write it: which answer is correct, and why."""
    return json.dumps({"analysis": analysis, "correct": correct})
