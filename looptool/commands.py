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


def output_file(value: str | Path, option: str = "--out") -> Path:
    """The file an option names to be written; an existing folder there is refused."""
    target = Path(value)
    if target.is_dir():
        raise UserError(f"{option} {target} is a folder; name a file (e.g. {target / 'out.jsonl'})")
    return target


def config_from_args(args: argparse.Namespace, *, run_name: str | None = None) -> LoopToolConfig:
    """The recipe of ``--config`` with the ``--set`` overrides, every section validated."""
    overrides = list(args.overrides)
    if run_name and not any(item.startswith("run.name=") for item in overrides):
        overrides.insert(0, f"run.name={run_name}")
    return load_config(args.config, overrides)


def start_run(args: argparse.Namespace, *, run_name: str) -> tuple[LoopToolConfig, RunDir]:
    """Load the config, create the run folder (resolved config inside), set up logging."""
    config = config_from_args(args, run_name=run_name)
    run = RunDir.create(config, getattr(args, "out", None))
    setup_logging(config.run.log_level, run.log_file)
    log.info("run folder %s", run.path, extra={"data": {"run_dir": str(run.path)}})
    return config, run
