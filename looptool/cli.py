"""The ``looptool`` command line. Each area contributes its sub-commands through a module
with a ``register(subparsers)`` function listed in :data:`COMMAND_MODULES`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable

from looptool import __version__
from looptool.config import ConfigError, LoopToolConfig, load_config
from looptool.logs import setup_logging
from looptool.rundir import RunDir

log = logging.getLogger("looptool")

COMMAND_MODULES = (
    "looptool.serve_cli",
    "looptool.agents.tools_cli",
    "looptool.graphs.synth_cli",
    "looptool.traces_cli",
    "looptool.training.cli",
    "looptool.benchmarks.cli",
    "looptool.loop.cli",
)

# Modules that register config sections (``register_section``); all are imported before a
# recipe is validated, so any command accepts a whole recipe.
SECTION_MODULES = (
    "looptool.agents.backends.settings",
    "looptool.graphs.api_synthesis.settings",
    "looptool.graphs.dialogue.config",
    "looptool.training.settings",
    "looptool.benchmarks.runner.settings",
    "looptool.loop.settings",
)

Handler = Callable[[argparse.Namespace], int]


class UserError(RuntimeError):
    """A problem the user can fix; printed without a traceback."""


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


def config_from_args(args: argparse.Namespace, *, run_name: str | None = None) -> LoopToolConfig:
    for module_name in SECTION_MODULES:
        importlib.import_module(module_name)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="looptool", description=__doc__)
    parser.add_argument("--version", action="version", version=f"looptool {__version__}")
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (ConfigError, UserError, FileNotFoundError, ValueError) as error:
        log.error("%s", error)
        return 2
    except KeyboardInterrupt:
        log.warning("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
