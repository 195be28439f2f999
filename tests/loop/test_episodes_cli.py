"""``looptool episodes build`` and ``looptool episodes check``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from looptool.agents.backends.filesystem import FileSystem
from looptool.cli import main
from looptool.episodes import load_episodes
from looptool.jsonl import write_jsonl
from looptool.loop.seed.episodes import curated_episodes
from looptool.schema import Dialogue, Message, Role, ToolCall, ToolSpec

FS_TOOLS = {spec.name: spec for spec in FileSystem.tool_specs()}
WEATHER = ToolSpec(name="get_weather", description="Weather now.",
                   parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def make_dialogue(dialogue_id: str, tools: list[ToolSpec]) -> Dialogue:
    return Dialogue(id=dialogue_id, tools=tools, metadata={"status": "accepted"}, messages=[
        Message(role=Role.USER, content="Create a folder named drafts."),
        Message(role=Role.ASSISTANT, tool_calls=[ToolCall(name="mkdir", arguments={"path": "/drafts"}, id="c1")]),
        Message(role=Role.TOOL, content='"/drafts"', tool_call_id="c1", name="mkdir"),
        Message(role=Role.ASSISTANT, content="Done."),
    ])


def test_build_writes_a_loadable_file_and_counts_each_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dialogues = tmp_path / "dialogues.jsonl"
    write_jsonl(dialogues, [make_dialogue("dlg-000001", [FS_TOOLS["mkdir"]]),
                            make_dialogue("dlg-000002", [FS_TOOLS["mkdir"], WEATHER])])
    out = tmp_path / "episodes.jsonl"
    assert main(["episodes", "build", "--out", str(out), "--dialogues", str(dialogues)]) == 0
    episodes = load_episodes(out)
    curated = len(curated_episodes())
    assert len(episodes) == curated + 1
    assert episodes[-1].id == "dlg-000001-episode" and episodes[-1].lineage.dialogue_id == "dlg-000001"
    text = capsys.readouterr().out
    assert f"curated: {curated} episodes" in text
    assert "dialogues: 1 episodes" in text
    assert "dialogues skipped: 1 (non_executable_tool 1)" in text
    assert f"wrote {curated + 1} episodes to {out}" in text

    assert main(["episodes", "check", str(out)]) == 0
    assert f"{curated + 1} episodes checked, 0 with problems" in capsys.readouterr().out


def test_build_without_dialogues_and_refusals(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "episodes.jsonl"
    assert main(["episodes", "build", "--out", str(out)]) == 0
    assert {episode.metadata["source"] for episode in load_episodes(out)} == {"curated"}
    assert main(["episodes", "build", "--out", str(tmp_path)]) == 2  # a folder
    assert "is a folder" in caplog.text
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    assert main(["episodes", "build", "--out", str(tmp_path / "x.jsonl"), "--dialogues", str(bad)]) == 2
    assert "--dialogues:" in caplog.text and not (tmp_path / "x.jsonl").exists()


def test_check_exits_non_zero_and_names_the_broken_episode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "episodes.jsonl"
    assert main(["episodes", "build", "--out", str(good)]) == 0
    capsys.readouterr()
    lines = good.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["expected"]["end_state"]["filesystem"]["files"]["/made/up.txt"] = "x"
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n", encoding="utf-8")
    assert main(["episodes", "check", str(broken)]) == 1
    out = capsys.readouterr().out
    assert f"{record['id']}: after the reference calls, filesystem.files: differs from the expected end state" in out
    assert f"{len(lines)} episodes checked, 1 with problems" in out


def test_check_of_a_file_that_is_not_episodes_is_a_user_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"id": "s-1", "tools": []}\n', encoding="utf-8")
    assert main(["episodes", "check", str(samples)]) == 2
    assert "is not an episode" in caplog.text
    assert main(["episodes", "check", str(tmp_path / "missing.jsonl")]) == 2
