"""What every config-driven sub-command shares: the ``--config`` / ``--set`` / ``--out``
options, loading the recipe from them, and starting a run folder.

Areas import these (never :mod:`looptool.cli`, which imports the areas' command modules)::

    def register(subparsers):
        parser = subparsers.add_parser("train", help="...")
        add_config_arguments(parser)
        parser.set_defaults(handler=run_train)

    def run_train(args):
        config, run = start_run(args, run_name="train")
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from looptool.config import LoopToolConfig, load_config
from looptool.errors import UserError
from looptool.logs import setup_logging
from looptool.rundir import RunDir

log = logging.getLogger("looptool")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every config-driven command takes."""
    parser.add_argument("--config", "-c", help="YAML recipe (defaults apply when omitted)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set serve.port=9000 (repeatable)",
    )
    parser.add_argument("--out", help="run folder (default: <run.root>/<run.name>-<time>)")


def output_file(value: str | Path, option: str = "--out", example: str = "out.jsonl") -> Path:
    """The file an option names to be written; an existing folder there is refused."""
    target = Path(value)
    if target.is_dir():
        raise UserError(f"{option} {target} is a folder; name a file (e.g. {target / example})")
    return target


def config_from_args(args: argparse.Namespace, *, run_name: str | None = None) -> LoopToolConfig:
    """The recipe of ``--config`` with the ``--set`` overrides, every section validated."""
    overrides = list(args.overrides)
    if run_name and not any(item.startswith("run.name=") for item in overrides):
        overrides.insert(0, f"run.name={run_name}")
    return load_config(args.config, overrides)


#: Run folders this process created; see :func:`discard_unused_runs`.
_CREATED_RUNS: list[Path] = []

#: What a run folder holds before any work: a folder with nothing else is unused.
UNUSED_RUN_FILES = frozenset({"config.yaml", "log.jsonl"})


def start_run(args: argparse.Namespace, *, run_name: str) -> tuple[LoopToolConfig, RunDir]:
    """Load the config, create the run folder (resolved config inside), set up logging."""
    config = config_from_args(args, run_name=run_name)
    path = RunDir.path_for(config, getattr(args, "out", None))
    created = not path.exists()
    run = RunDir.create(config, path)
    if created:
        _CREATED_RUNS.append(run.path)
    setup_logging(config.run.log_level, run.log_file)
    log.info("run folder %s", run.path, extra={"data": {"run_dir": str(run.path)}})
    return config, run


def discard_unused_runs() -> list[Path]:
    """Remove the run folders this process created that hold nothing but the config and
    the log (a command that failed validation leaves no run folder); returns them."""
    removed: list[Path] = []
    while _CREATED_RUNS:
        path = _CREATED_RUNS.pop()
        if path.is_dir() and {item.name for item in path.iterdir()} <= UNUSED_RUN_FILES:
            for item in path.iterdir():
                item.unlink()
            path.rmdir()
            removed.append(path)
    return removed
