"""``looptool run`` (the closed loop) and the commands that read a run: ``report``,
``lineage`` and ``export``."""

from __future__ import annotations

import argparse
import logging

from looptool.commands import add_config_arguments, start_run
from looptool.errors import UserError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run",
        help="the closed loop: seed -> (train -> probe -> judge -> expand -> compose) x N -> evaluate",
        description="Runs the loop (and, with loop.modes, the static baseline and ablations side by side) "
        "into one run folder. Rerun with the same --out to resume: finished stages are skipped and "
        "finished items inside a stage are never asked again.",
    )
    add_config_arguments(run)
    run.set_defaults(handler=handle_run)

    report = subparsers.add_parser("report", help="tables (the paper's Table 3), accuracy per iteration, a chart")
    report.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s) of `looptool run`")
    report.add_argument("--out", help="folder for the markdown and PNG of several runs (default: the first run)")
    report.set_defaults(handler=handle_report)

    lineage = subparsers.add_parser("lineage", help="one sample's history across iterations and modes")
    lineage.add_argument("run", metavar="RUN", help="run folder of `looptool run`")
    lineage.add_argument("sample_id", metavar="SAMPLE_ID", help="id of a sample in any of its data files")
    lineage.set_defaults(handler=handle_lineage)

    export = subparsers.add_parser("export", help="one iteration's training set as a Hugging Face datasets folder")
    export.add_argument("run", metavar="RUN", help="run folder of `looptool run`")
    export.add_argument("--iteration", type=int, required=True, help="iteration whose data.jsonl is exported")
    export.add_argument("--mode", default="loop", help="loop mode (default: loop)")
    export.add_argument("--out", help="output folder (default: RUN/export/<mode>_iter_<j>)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing export")
    export.set_defaults(handler=handle_export)


def handle_run(args: argparse.Namespace) -> int:
    from looptool.logs import console
    from looptool.loop.controller import LoopError, run_loop
    from looptool.loop.report import build_report, render_report, write_report

    config, run = start_run(args, run_name="loop")
    try:
        run_loop(config, run)
    except LoopError as error:
        raise UserError(f"{error} (finished stages are kept; rerun with --out {run.path} to resume)") from None
    report = build_report([run.path])
    render_report(report, console)
    files = write_report(report)
    log.info("report %s%s", files.markdown, f", chart {files.chart}" if files.chart else "")
    return 0


def handle_report(args: argparse.Namespace) -> int:
    from looptool.logs import console
    from looptool.loop.report import build_report, render_report, write_report

    report = build_report(args.runs)
    render_report(report, console)
    files = write_report(report, args.out)
    log.info("report %s%s", files.markdown, f", chart {files.chart}" if files.chart else "")
    return 0


def handle_lineage(args: argparse.Namespace) -> int:
    from looptool.logs import console
    from looptool.loop.lineage import UnknownSampleError, render_history, sample_history

    try:
        steps = sample_history(args.run, args.sample_id)
    except UnknownSampleError as error:
        raise UserError(str(error.args[0] if error.args else error)) from None
    render_history(steps, console, sample_id=args.sample_id)
    return 0


def handle_export(args: argparse.Namespace) -> int:
    from looptool.loop.export import ExportError, export_iteration

    try:
        result = export_iteration(args.run, args.iteration, mode=args.mode, out_dir=args.out,
                                  overwrite=args.overwrite)
    except ExportError as error:
        raise UserError(str(error)) from None
    log.info("exported %d rows to %s (card %s)", result.rows, result.out_dir, result.card)
    return 0
