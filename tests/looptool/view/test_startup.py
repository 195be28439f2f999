"""``looptool view`` starts without langchain: the run browser and the records it reads
(``looptool.loop.records``, ``Verdict``) stay clear of the agents' heavy imports."""

from __future__ import annotations

import subprocess
import sys

from looptool.agents import label_judge
from looptool.loop import records, verdicts

#: Imports what ``looptool view RUN`` imports before serving (the whole command line's parser,
#: whose command modules import lazily, and the browser), then lists the heavy ones loaded.
_PROBE = """
import sys
from looptool.cli import build_parser
import looptool.view.app, looptool.view.cli, looptool.view.server
build_parser()
heavy = ("langchain_core", "langchain", "langchain_openai", "langgraph")
print(" ".join(sorted(name for name in sys.modules if name.split(".")[0] in heavy)))
"""


def test_view_command_path_does_not_import_langchain() -> None:
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [], f"looptool view imports {result.stdout.split()[:5]}"


def test_verdict_is_one_class_under_its_old_and_new_names() -> None:
    assert label_judge.Verdict is verdicts.Verdict is records.Verdict
    assert records.JudgeRecord.model_validate(
        {"sample_id": "s", "verdict": "LABEL_WRONG", "decided_by": "panel", "action": "relabeled"}
    ).verdict is verdicts.Verdict.LABEL_WRONG
