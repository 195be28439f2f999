"""``looptool view RUN [RUN2 ...]``: browse run folders in a local web page (127.0.0.1 only)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from looptool.errors import UserError
from looptool.view.app import ViewApp, resolve_runs
from looptool.view.server import ViewServer

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0005


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and SIGTERM stop the server cleanly, also when the shell started it in
    the background (``looptool view RUN &``), which leaves SIGINT ignored in the child."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop)


def handle(args: argparse.Namespace) -> int:
    app = ViewApp(resolve_runs(args.runs))
    try:
        server = ViewServer(app, port=args.port)
    except OSError as error:
        raise UserError(f"cannot listen on 127.0.0.1:{args.port}: {error.strerror or error}") from None
    # the warm-up thread parses JSON for seconds on a big run; a short switch interval keeps
    # the request threads (many short system calls) from waiting 5 ms for the GIL after each
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    warm_up = app.warm_up()  # read the samples while the first pages are looked at
    if args.preload:
        warm_up.join()
    sys.stdout.write(f"LoopTool run browser: {server.url}  (Ctrl-C stops it)\n")
    sys.stdout.flush()
    log.info("serving %d run(s) at %s", len(app.runs), server.url)
    stop_on_signals()
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
                      help="read every run's samples before printing the URL (default: in the background)")
    view.set_defaults(handler=handle)
