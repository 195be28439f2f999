"""``looptool tools import | list-backends | spec``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from looptool.agents import tools_cli
from looptool.agents.backends import REGISTRY
from looptool.agents.tool_import import read_library
from looptool.cli import COMMAND_MODULES, main
from looptool.errors import UserError
from looptool.jsonl import iter_jsonl_dicts

DATA = Path(__file__).parent / "tool_import" / "data"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="looptool")
    tools_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def test_module_is_wired_into_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert "looptool.agents.tools_cli" in COMMAND_MODULES
    assert main(["tools", "spec", "calendar"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "create_event"
    assert main(["tools", "spec", "calender"]) == 2  # a user error, reported without a traceback


def test_import_writes_library_with_provenance_and_issues(tmp_path: Path) -> None:
    output = tmp_path / "lib" / "tools.jsonl"
    assert run("tools", "import", str(DATA / "petstore.yaml"), str(DATA / "openai_tools.jsonl"),
               "-o", str(output)) == 0
    tools = read_library(output)
    assert len(tools) == 7
    assert {item.format for tool in tools for item in tool.provenance} == {"openapi", "openai"}
    assert all(tool.provenance and tool.provenance[0].source for tool in tools)
    issues = list(iter_jsonl_dicts(tmp_path / "lib" / "tools.issues.jsonl"))
    assert {issue["severity"] for issue in issues} == {"error", "warning"}
    assert any(issue["pointer"] == "line 6" for issue in issues)
    # an existing library is neither overwritten nor lost by accident
    with pytest.raises(UserError, match="exists; pass --merge"):
        run("tools", "import", str(DATA / "bfcl_functions.json"), "-o", str(output))
    assert run("tools", "import", str(DATA / "bfcl_functions.json"), "-o", str(output), "--merge") == 0
    assert len(read_library(output)) == 11
    assert run("tools", "import", str(DATA / "bfcl_functions.json"), "-o", str(output), "--force",
               "--strict") == 1  # one invalid BFCL function
    assert len(read_library(output)) == 4


def test_import_with_nothing_valid_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"openapi": "3.0.0", "paths": {}}', encoding="utf-8")
    with pytest.raises(UserError, match="no valid tool spec"):
        run("tools", "import", str(bad), "-o", str(tmp_path / "out.jsonl"))
    assert not (tmp_path / "out.jsonl").exists()


def test_list_backends_and_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("tools", "list-backends") == 0
    listed = capsys.readouterr().out
    assert "calculator" in listed and "filesystem" in listed and "calendar" in listed
    assert run("tools", "spec", "calculator") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == [spec.model_dump(mode="json") for spec in REGISTRY.get("calculator").tool_specs()]
    assert run("tools", "spec", "filesystem", "--openai") == 0
    openai = json.loads(capsys.readouterr().out)
    assert openai[0]["type"] == "function" and openai[0]["function"]["name"] == "pwd"
    with pytest.raises(UserError, match="did you mean 'calendar'"):
        run("tools", "spec", "calender")
