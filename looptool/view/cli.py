"""``looptool view RUN [RUN2 ...]``: browse run folders in a local web page (127.0.0.1 only)."""

from __future__ import annotations

import argparse
import logging
import sys

from looptool.view.app import ViewApp, resolve_runs
from looptool.view.server import ViewServer

log = logging.getLogger(__name__)


def handle(args: argparse.Namespace) -> int:
    app = ViewApp(resolve_runs(args.runs))
    server = ViewServer(app, port=args.port)
    if args.preload:  # build the sample indexes before the first page asks
        for number in range(len(app.runs)):
            app.index(number)
    sys.stdout.write(f"LoopTool run browser: {server.url}  (Ctrl-C stops it)\n")
    sys.stdout.flush()
    log.info("serving %d run(s) at %s", len(app.runs), server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopped")
    finally:
        server.server_close()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``view`` to the ``looptool`` command line."""
    view = subparsers.add_parser(
        "view", help="browse runs in a local web page: overview, samples, lineage, traces, rejects, benchmarks",
        description="Serve a local run browser on 127.0.0.1 (nothing is loaded from the network). "
                    "Works on finished, running and interrupted runs; reload a page to see new results.",
    )
    view.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s) to show")
    view.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    view.add_argument("--preload", action="store_true",
                      help="read every run's samples before serving (first sample page faster)")
    view.set_defaults(handler=handle)
