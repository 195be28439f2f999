"""``looptool traces ...``: look at a run's trace store.

* ``looptool traces show RUN_DIR [--dialogue ID]`` prints a run's traces (or one trace).
* ``looptool traces html RUN_DIR [--out FILE]`` writes a static HTML viewer.
* ``looptool traces list RUN_DIR`` / ``traces export RUN_DIR`` filter every store of a run
  (:mod:`looptool.view.trace_cli`).

``RUN_DIR`` is a run folder holding ``traces.sqlite`` (or that file itself).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from looptool.commands import output_file
from looptool.errors import UserError
from looptool.logs import console
from looptool.trace_views import render_summary, render_trace, write_html
from looptool.traces import TRACE_FILE, TraceStore, TraceStoreError
from looptool.view.trace_cli import register_actions


def open_run_store(run_dir: str | Path) -> TraceStore:
    """The trace store of a run folder (or a ``traces.sqlite`` path), opened read-only."""
    path = Path(run_dir)
    if not path.exists():
        raise UserError(f"{path}: no such run folder")
    target = path if path.is_file() else path / TRACE_FILE
    try:
        return TraceStore(target, readonly=True)
    except TraceStoreError as error:
        raise UserError(str(error)) from None


def handle_show(args: argparse.Namespace) -> int:
    store = open_run_store(args.run_dir)
    try:
        if args.dialogue:
            try:
                render_trace(store, args.dialogue, console, width=args.width)
            except KeyError as error:
                raise UserError(str(error.args[0])) from None
        else:
            render_summary(store, console, limit=args.limit)
    finally:
        store.close()
    return 0


def handle_html(args: argparse.Namespace) -> int:
    run_path = Path(args.run_dir)
    default = (run_path if run_path.is_dir() else run_path.parent) / "traces.html"
    output = output_file(args.output, "--out", "traces.html") if args.output else default
    store = open_run_store(run_path)
    try:
        target = write_html(store, output, limit=args.limit, status=args.status)
    finally:
        store.close()
    console.print(f"wrote {target}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``traces show`` and ``traces html`` to the ``looptool`` command line."""
    traces = subparsers.add_parser("traces", help="inspect a run's traces (terminal or HTML)")
    actions = traces.add_subparsers(dest="traces_command", required=True, metavar="HOW")
    show = actions.add_parser("show", help="summary of a run's traces, or one trace in full")
    show.add_argument("run_dir", help="run folder (or a traces.sqlite file)")
    show.add_argument("--dialogue", "--id", dest="dialogue", help="trace id (dialogue or job id)")
    show.add_argument("--limit", type=int, default=50, help="traces listed in the summary")
    show.add_argument("--width", type=int, default=400, help="characters shown per event")
    show.set_defaults(handler=handle_show)
    page = actions.add_parser("html", help="write a static HTML trace viewer")
    page.add_argument("run_dir", help="run folder (or a traces.sqlite file)")
    page.add_argument("--out", "--output", "-o", dest="output", help="HTML file (default: RUN_DIR/traces.html)")
    page.add_argument("--limit", type=int, default=1000, help="only the last N traces (default 1000)")
    page.add_argument("--status", help="only traces with this status (accepted, rejected, failed, ...)")
    page.set_defaults(handler=handle_html)
    register_actions(actions)  # list, export: filters across every store of a run
