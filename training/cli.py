"""``looptool train``: GRPO on a samples file, from a starting model, into a run folder."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from looptool.commands import add_config_arguments, start_run
from looptool.errors import UserError
from looptool.training.settings import TrainSettings

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="GRPO-train a model on tool-calling samples (TRL)",
        description="GRPO training with TRL. Rerunning the same command with the same --out "
        "resumes from the last checkpoint; a finished run just prints its report.",
    )
    parser.add_argument("--data", required=True, help="samples JSONL (looptool Sample records), or episodes JSONL with "
                        "train.sample_kind episode (looptool episodes build)")
    parser.add_argument(
        "--init",
        help="starting model: a Hugging Face causal-LM folder or 'embedded' "
        "(default: train.init, else model.path)",
    )
    parser.add_argument(
        "--heldout",
        help="samples (or episodes) JSONL for held-out ToolMatch accuracy (end-state success for "
        "episodes; default: a seeded slice of --data, train.holdout_fraction)",
    )
    add_config_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from looptool.training.trainer import TrainingInterrupted, TrainJob, run_training

    if not Path(args.data).is_file():
        raise UserError(f"data file {args.data} does not exist")
    config, run = start_run(args, run_name="train")
    settings = config.section("train", TrainSettings)
    model = args.init or settings.init or config.model.path
    seed = settings.seed if settings.seed is not None else config.run.seed
    heldout = Path(args.heldout) if args.heldout else None
    partner = None
    if settings.simulated_user:
        from looptool.agents.episode_user import partner_from_config

        partner = partner_from_config(config)
    job = TrainJob(data=Path(args.data), out=run.path, settings=settings, model=model, seed=seed,
                   heldout_data=heldout, serve=config.serve, user_partner=partner)
    try:
        report = run_training(job)
    except TrainingInterrupted as stop:
        log.warning("%s", stop)
        return 130
    accuracy = report.heldout_after.accuracy
    log.info(
        "done: %d steps, held-out ToolMatch %s, report %s",
        report.steps,
        "n/a" if accuracy is None else f"{accuracy:.3f}",
        run.path / "train_report.json",
    )
    return 0
