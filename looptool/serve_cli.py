"""``looptool serve`` (a vLLM OpenAI-compatible server) and ``looptool model prepare``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from looptool.commands import add_config_arguments, start_run
from looptool.embedded import EmbeddedModelError, ensure_embedded_model
from looptool.errors import UserError
from looptool.jsonl import write_json_atomic
from looptool.serve import VllmError, VllmServer, log_tail

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve a model with vLLM (OpenAI-compatible API) until Ctrl-C",
        description="Start a vLLM OpenAI-compatible server for model.path (a Hugging Face folder "
        "or 'embedded'), wait until it is healthy, print its base URL on stdout, and keep it "
        "running until Ctrl-C / SIGTERM. The server log goes to <run folder>/vllm.log.",
    )
    serve.add_argument("--model", help="model folder or 'embedded' (overrides model.path)")
    serve.add_argument("--port", type=int, help="port (overrides serve.port)")
    serve.add_argument("--device", choices=["auto", "cpu", "cuda"], help="overrides serve.device")
    add_config_arguments(serve)
    serve.set_defaults(handler=handle_serve)

    model = subparsers.add_parser("model", help="manage the embedded default model")
    actions = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    prepare = actions.add_parser(
        "prepare",
        help="convert the embedded SmolLM2-135M-Instruct to safetensors (once) and print its folder",
    )
    prepare.add_argument("--cache-dir", type=Path, help="model folder (default: the LoopTool cache)")
    prepare.set_defaults(handler=handle_prepare)


def handle_prepare(args: argparse.Namespace) -> int:
    try:
        path = ensure_embedded_model(args.cache_dir)
    except EmbeddedModelError as error:
        raise UserError(str(error)) from None
    sys.stdout.write(f"{path}\n")
    return 0


class _Stop(Exception):
    pass


def handle_serve(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.model:
        overrides.append(f"model.path={args.model}")
    if args.port is not None:
        overrides.append(f"serve.port={args.port}")
    if args.device:
        overrides.append(f"serve.device={args.device}")
    args.overrides = overrides
    config, run = start_run(args, run_name="serve")
    try:
        server = VllmServer.from_config(config, log_path=run.file("vllm.log"))
    except EmbeddedModelError as error:
        raise UserError(str(error)) from None

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        raise _Stop

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            server.start()
        except VllmError as error:
            raise UserError(str(error)) from None
        write_json_atomic(
            run.file("server.json"),
            {"base_url": server.base_url, "model": server.model, "pid": server.pid,
             "model_path": str(server.model_path), "log": str(server.log_path)},
        )
        sys.stdout.write(f"{server.base_url}\n")
        sys.stdout.flush()
        log.info("serving %s at %s (Ctrl-C to stop)", server.model, server.base_url)
        while server.alive():
            stop.wait(1.0)
        assert server.log_path is not None
        log.error("vLLM exited with code %s; last lines of %s:\n%s", server.returncode(), server.log_path, log_tail(server.log_path))
        return 1
    except _Stop:
        log.info("stopping vLLM")
        return 0
    finally:
        for sig in previous:  # a second Ctrl-C must not interrupt the shutdown
            signal.signal(sig, signal.SIG_IGN)
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
