"""``looptool pipeline``: the static pipeline end to end (serve, synthesize, train, evaluate)."""

from __future__ import annotations

import argparse
import logging

from looptool.commands import add_config_arguments, start_run
from looptool.errors import UserError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pipeline",
        help="serve -> synthesize seed dialogues -> GRPO-train -> evaluate base vs trained",
        description="Runs every stage for real on the configured model (the embedded SmolLM2 by "
        "default). Rerun with the same --out to resume after an interruption.",
    )
    add_config_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from looptool.loop.pipeline import PipelineError, run_pipeline

    config, run = start_run(args, run_name="pipeline")
    try:
        report = run_pipeline(config, run)
    except PipelineError as error:
        raise UserError(f"{error} (finished stages are kept; rerun with --out {run.path} to resume)") from None
    log.info(
        "pipeline done: %d samples from %d dialogues, %d GRPO steps, results in %s",
        report.samples,
        report.dialogues,
        report.train_steps,
        report.results or run.path,
    )
    return 0
