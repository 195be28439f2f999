"""The ``looptool`` command line. Each area contributes its sub-commands through a module
with a ``register(subparsers)`` function listed in :data:`COMMAND_MODULES`; what those
modules share (``--config``/``--set``/``--out``, starting a run) is :mod:`looptool.commands`.
Errors the user can fix (:class:`~looptool.errors.UserError`, ``ConfigError``) are printed
without a traceback, exit status 2."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable

from looptool import __version__
from looptool.cli_help import DESCRIPTION, EPILOG, HelpFormatter, apply_help
from looptool.commands import discard_unused_runs
from looptool.config import LOG_LEVELS, ConfigError
from looptool.errors import UserError
from looptool.logs import setup_logging

log = logging.getLogger("looptool")

COMMAND_MODULES = (
    "looptool.serve_cli",
    "looptool.agents.tools_cli",
    "looptool.graphs.synth_cli",
    "looptool.traces_cli",
    "looptool.training.cli",
    "looptool.benchmarks.cli",
    "looptool.loop.cli",
    "looptool.loop.run_cli",
    "looptool.loop.episodes_cli",
    "looptool.view.cli",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="looptool", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"looptool {__version__}")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS,
                        help="console logging level (default: INFO)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(subparsers)
    apply_help(parser)
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
    except (IsADirectoryError, NotADirectoryError, PermissionError) as error:
        log.error("%s", error)  # e.g. "[Errno 21] Is a directory: 'out'": the path is named
    except KeyboardInterrupt:
        log.warning("interrupted")
        return 130
    setup_logging(args.log_level)  # closes the run's log file before its folder is removed
    for path in discard_unused_runs():
        log.info("no work was done; removed the new run folder %s", path)
    return 2


if __name__ == "__main__":
    sys.exit(main())
