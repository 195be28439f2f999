"""``looptool traces list RUN`` and ``looptool traces export RUN``: a run's traces (every
trace store in it) filtered as on the run browser's traces page, in the terminal or as JSONL."""

from __future__ import annotations

import argparse
import sys

from rich.markup import escape
from rich.table import Table

from looptool.commands import output_file
from looptool.errors import UserError
from looptool.jsonl import atomic_writer
from looptool.logs import console
from looptool.traces import TraceStoreError
from looptool.view.runfolder import RunFolder
from looptool.view.tracequery import TraceFilter, export_jsonl, list_traces


def _filter(args: argparse.Namespace) -> TraceFilter:
    return TraceFilter(kind=args.kind or "", iteration=args.iteration, status=args.status or "",
                       tool=args.tool or "", q=args.q or "", sample=args.sample or "")


def _run(path: str) -> RunFolder:
    run = RunFolder.open(path)
    if not run.trace_stores():
        raise UserError(f"{run.path}: no trace store (traces.sqlite) in this run folder")
    return run


def handle_list(args: argparse.Namespace) -> int:
    run = _run(args.run_dir)
    rows, problems = list_traces(run, _filter(args))
    for problem in problems:
        console.print(f"[red]{escape(problem)}[/red]")
    table = Table(title=f"{len(rows)} traces in {escape(str(run.path))}")
    table.add_column("trace", no_wrap=True)
    for column in ("kind", "status", "events", "tokens", "seconds", "reason", "store"):
        table.add_column(column, overflow="fold")
    for row in rows[-args.limit:] if args.limit > 0 else rows:
        info = row.info
        table.add_row(escape(info.trace_id), escape(info.kind), escape(info.status), str(info.events),
                      f"{info.prompt_tokens}→{info.completion_tokens}",
                      "" if info.duration_s is None else f"{info.duration_s:.1f}", escape(row.reason[:120]),
                      escape(row.store))
    console.print(table)
    return 1 if problems and not rows else 0


def handle_export(args: argparse.Namespace) -> int:
    if args.format != "jsonl":
        raise UserError(f"--format {args.format}: only jsonl is supported")
    run = _run(args.run_dir)
    try:
        if args.output in (None, "-"):
            count = export_jsonl(run, _filter(args), sys.stdout)
        else:
            with atomic_writer(output_file(args.output, "--out", "traces.jsonl")) as stream:
                count = export_jsonl(run, _filter(args), stream)
    except TraceStoreError as error:
        raise UserError(str(error)) from None
    console.print(f"exported {count} traces" + ("" if args.output in (None, "-") else f" to {args.output}"))
    return 0


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run folder (every traces.sqlite in it is read)")
    parser.add_argument("--kind", help="trace kind: dialogue, jglv, edde, api_synthesis, ...")
    parser.add_argument("--iteration", type=int, help="loop iteration (from ids like jglv:<j>:<sample>)")
    parser.add_argument("--status", help="accepted, rejected (rejected/failed/dropped), or an exact status or verdict")
    parser.add_argument("--tool", help="only traces that call this tool")
    parser.add_argument("--q", "--search", dest="q", help="only traces whose messages or metadata contain this text")
    parser.add_argument("--sample", help="only traces about this sample id")


def register_actions(actions: argparse._SubParsersAction) -> None:
    """Add ``list`` and ``export`` under ``looptool traces``."""
    listing = actions.add_parser("list", help="a run's traces, filtered (every trace store of the run)")
    _add_filters(listing)
    listing.add_argument("--limit", type=int, default=200, help="only the last N matching traces (0: all)")
    listing.set_defaults(handler=handle_list)
    export = actions.add_parser("export", help="a run's traces with every event, as JSON Lines")
    _add_filters(export)
    export.add_argument("--format", default="jsonl", choices=["jsonl"], help="output format (jsonl)")
    export.add_argument("--out", "--output", "-o", dest="output", help="file to write (default: standard output)")
    export.set_defaults(handler=handle_export)
