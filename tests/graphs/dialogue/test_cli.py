"""``looptool synth ...``: argument errors (``looptool traces`` is tested in tests/looptool)."""

from __future__ import annotations

from pathlib import Path

import pytest

from looptool.cli import main


def test_synth_dialogues_rejects_bad_arguments(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert main(["synth", "dialogues", "--n", "0", "--out", str(tmp_path / "a")]) == 2
    assert "--n must be at least 1" in caplog.text
    assert main(["synth", "dialogues", "--n", "2", "--tools", str(tmp_path / "missing.jsonl")]) == 2
    assert "is not a file" in caplog.text
    # a server that does not answer is named before any work starts
    code = main(["synth", "dialogues", "--n", "1", "--out", str(tmp_path / "b"),
                 "--set", "roles.generator.base_urls=[http://127.0.0.1:9/v1]"])
    assert code == 2
    assert "no answer from http://127.0.0.1:9/v1" in caplog.text
    assert not (tmp_path / "b" / "dialogues.jsonl").exists()
