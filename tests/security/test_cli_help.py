"""The command line explains itself: user text at the top, an example in every command's
help, help text on every option, and ``--out`` wherever a command writes something."""

from __future__ import annotations

import argparse
import re

import pytest

from looptool.cli import build_parser
from looptool.cli_help import EXAMPLES, commands, is_leaf

#: Commands that only read, print or rewrite their own input in place: no ``--out``.
NO_OUTPUT = {"model prepare", "tools list-backends", "tools spec", "tools call", "traces show", "rescore",
             "benchmarks", "lineage", "traces list", "view", "episodes check"}

PARSERS = dict(commands(build_parser()))
LEAVES = sorted(words for words, parser in PARSERS.items() if words and is_leaf(parser))


def test_the_top_level_help_is_user_text() -> None:
    text = PARSERS[""].format_help()
    assert "LoopTool" in text and "looptool COMMAND --help" in text
    assert not re.search(r":(data|mod|class|func):|``", text), text  # no docstring markup
    assert "examples:\n  looptool run --config configs/smoke.yaml" in text


@pytest.mark.parametrize("words", LEAVES)
def test_every_command_shows_an_example_of_itself(words: str) -> None:
    text = PARSERS[words].format_help()
    examples = [line.strip() for line in text.splitlines() if line.startswith("  looptool ")]
    assert any(example.startswith(f"looptool {words}") for example in examples), text


@pytest.mark.parametrize("words", sorted(PARSERS))
def test_every_option_and_argument_has_help(words: str) -> None:
    missing = [action.option_strings or action.dest for action in PARSERS[words]._actions
               if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
               and not isinstance(action, argparse._SubParsersAction)]
    assert missing == [], f"looptool {words}: no help for {missing}"


def test_every_command_that_writes_takes_out() -> None:
    without = {words for words in LEAVES if not any("--out" in action.option_strings for action in PARSERS[words]._actions)}
    assert without == NO_OUTPUT
    assert set(EXAMPLES) == set(LEAVES)  # no example for a command that is gone


def test_tools_import_keeps_o_as_an_alias_of_out() -> None:
    parser = build_parser()
    for option in ("--out", "-o", "--output"):
        assert parser.parse_args(["tools", "import", "x.json", option, "lib.jsonl"]).output == "lib.jsonl"
        assert parser.parse_args(["traces", "html", "runs/x", option, "t.html"]).output == "t.html"
