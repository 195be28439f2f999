"""What ``looptool --help`` and ``looptool COMMAND --help`` show: the program's own text,
one example per command (a command's own epilog wins), and a formatter that reflows prose
but keeps example lines (indented by two spaces) as written."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

DESCRIPTION = """\
LoopTool: synthesize tool-calling data, GRPO-train a model on it, find what the model still
gets wrong, and evaluate it on BFCL-v3 and ACEBench, in one closed loop on open models.
Run `looptool COMMAND --help` for a command's options and an example.
Errors you can fix are printed in one line, exit status 2."""

EPILOG = """\
examples:
  looptool run --config configs/smoke.yaml          # the closed loop on the embedded model
  looptool run --config configs/smoke.yaml --out runs/loop-1   # resume that run
  looptool tools call calculator calculate --args '{"expression": "2 + 3"}'"""

#: One runnable example per command, by its words after ``looptool``.
EXAMPLES: dict[str, str] = {
    "serve": "looptool serve --model embedded --port 8000",
    "model prepare": "looptool model prepare",
    "tools import": "looptool tools import specs/ openapi.yaml --out tools.jsonl",
    "tools list-backends": "looptool tools list-backends",
    "tools spec": "looptool tools spec calculator --openai",
    "tools call": "looptool tools call calculator calculate --args '{\"expression\": \"2 + 3\"}'",
    "synth dialogues": "looptool synth dialogues --n 20 --tools tools.jsonl --out runs/dialogues",
    "synth apis": "looptool synth apis --n 10 --out runs/apis",
    "traces show": "looptool traces show runs/dialogues --dialogue dlg-000001",
    "traces html": "looptool traces html runs/dialogues --status rejected --out rejected.html",
    "traces list": "looptool traces list runs/loop --status rejected --iteration 1",
    "traces export": "looptool traces export runs/loop --format jsonl --out traces.jsonl",
    "view": "looptool view runs/loop runs/loop-static",
    "train": "looptool train --data samples.jsonl --init embedded --config configs/train_cpu.yaml --out runs/train",
    "eval": "looptool eval --config configs/eval_bfcl_quick.yaml --out runs/eval-bfcl-quick",
    "sweep": "looptool sweep --config configs/sweep_embedded.yaml --out runs/sweep-embedded",
    "rescore": "looptool rescore runs/sweep-embedded",
    "benchmarks": "looptool benchmarks",
    "pipeline": "looptool pipeline --config configs/pipeline_smoke.yaml --out runs/pipeline",
    "run": "looptool run --config configs/smoke.yaml --set loop.iterations=3 --out runs/loop",
    "report": "looptool report runs/loop runs/loop-static --out runs/compare",
    "lineage": "looptool lineage runs/loop SAMPLE_ID",
    "export": "looptool export runs/loop --iteration 2 --out data/iter2",
    "episodes build": "looptool episodes build --out episodes.jsonl --dialogues runs/dialogues/dialogues.jsonl",
    "episodes check": "looptool episodes check episodes.jsonl",
}


class HelpFormatter(argparse.HelpFormatter):
    """Reflows prose paragraphs; a line starting with two spaces is kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks: list[str] = []
        prose: list[str] = []
        for line in text.splitlines():
            if line.startswith("  "):
                if prose:
                    blocks.append(super()._fill_text(" ".join(prose), width, indent))
                    prose = []
                blocks.append(indent + line)
            else:
                prose.append(line)
        if prose:
            blocks.append(super()._fill_text(" ".join(prose), width, indent))
        return "\n".join(blocks)


def commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every parser under ``parser`` with its command words (``"tools import"``), the leaves last."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias
                    continue
                seen.add(id(sub))
                yield from commands(sub, (*words, name))
    yield " ".join(words), parser


def is_leaf(parser: argparse.ArgumentParser) -> bool:
    return not any(isinstance(action, argparse._SubParsersAction) for action in parser._actions)


def apply_help(parser: argparse.ArgumentParser) -> None:
    """Give every parser the formatter, every command without an epilog its example and
    every group (``tools``, ``synth``) its commands' examples."""
    for words, sub in commands(parser):
        sub.formatter_class = HelpFormatter
        if sub.epilog:
            continue
        if is_leaf(sub):
            if words in EXAMPLES:
                sub.epilog = f"example:\n  {EXAMPLES[words]}"
        else:
            below = [example for key, example in EXAMPLES.items() if key.startswith(f"{words} ")]
            if below:
                sub.epilog = "examples:\n" + "\n".join(f"  {example}" for example in below)
