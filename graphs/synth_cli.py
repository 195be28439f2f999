"""``looptool synth ...`` (seed-data synthesis) and ``looptool traces ...`` (trace viewers).

* ``looptool synth dialogues --n N [--tools LIBRARY.jsonl]`` simulates dialogues and writes
  ``dialogues.jsonl``, ``samples.jsonl``, ``rejects.jsonl`` and ``traces.sqlite``.
* ``looptool synth apis --n N`` synthesizes tool specs from the context/constraint trees.
* ``looptool traces show RUN_DIR [--dialogue ID]`` prints a run's traces (or one trace).
* ``looptool traces html RUN_DIR [--output FILE]`` writes a static HTML viewer.

Heavy imports (LangGraph, langchain) happen inside the handlers so ``looptool --help``
stays fast.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from looptool.cli import UserError, add_config_arguments, start_run
from looptool.logs import console

log = logging.getLogger("looptool.synth")

# ---------------------------------------------------------------------- synth


def _check_servers(config: Any, roles: list[str]) -> None:
    """Fail fast, naming the URL, when a role's model server does not answer."""
    import asyncio

    from looptool.agents.llm import LLMConfigError, OpenAICompatClient, role_settings

    async def probe(role: str) -> None:
        try:
            settings = role_settings(config, role)
        except LLMConfigError as error:
            raise UserError(str(error)) from None
        client = OpenAICompatClient.for_role(settings.model_copy(update={"max_retries": 0}), role_name=role)
        try:
            served = await client.models()
        except Exception as error:
            raise UserError(
                f"model role {role!r}: no answer from {', '.join(settings.base_urls)} "
                f"({type(error).__name__}: {error}); start a server with `looptool serve` "
                f"or set roles.{role}.base_urls"
            ) from None
        finally:
            await client.aclose()
        if settings.model not in served:
            raise UserError(
                f"model role {role!r}: the server at {', '.join(settings.base_urls)} serves "
                f"{served}, not {settings.model!r} (set roles.{role}.model)"
            )

    async def probe_all() -> None:
        for role in dict.fromkeys(roles):
            await probe(role)

    asyncio.run(probe_all())


def _synth_dialogues(args: argparse.Namespace) -> int:
    from looptool.agents.backends.settings import ToolsSettings
    from looptool.graphs.dialogue.config import DialogueSynthSettings
    from looptool.graphs.dialogue.run import run_dialogue_synthesis

    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    if args.concurrency is not None and args.concurrency < 1:
        raise UserError(f"--concurrency must be at least 1, got {args.concurrency}")
    if args.tools is not None and not Path(args.tools).is_file():
        raise UserError(f"--tools: {args.tools} is not a file")
    config, run = start_run(args, run_name="synth-dialogues")
    settings = config.section("dialogue_synth", DialogueSynthSettings)
    roles = settings.roles
    needed = [roles.planner, roles.user, roles.assistant, config.section("tools", ToolsSettings).simulator.role]
    if settings.judge:
        needed.append(roles.judge)
    _check_servers(config, needed)
    report = run_dialogue_synthesis(
        config,
        run.path,
        n=args.n,
        tools_path=Path(args.tools) if args.tools else None,
        concurrency=args.concurrency,
        progress=True,
    )
    console.print(f"traces: looptool traces show {run.path}  |  looptool traces html {run.path}")
    return 0 if report.finished >= args.n else 1


def _synth_apis(args: argparse.Namespace) -> int:
    from looptool.graphs.api_synthesis.run import run_api_synthesis

    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    existing: list[Any] = []
    if args.tools is not None:
        from looptool.graphs.dialogue.tools import load_tool_library

        if not Path(args.tools).is_file():
            raise UserError(f"--tools: {args.tools} is not a file")
        existing = list(load_tool_library(Path(args.tools)))
    config, run = start_run(args, run_name="synth-apis")
    _check_servers(config, ["generator"])
    report = run_api_synthesis(config, run.path, args.n, existing, progress=True)  # logs its report
    return 0 if report.finished >= args.n else 1


def _register_synth(subparsers: Any) -> None:
    synth = subparsers.add_parser("synth", help="synthesize seed data (dialogues, APIs)")
    actions = synth.add_subparsers(dest="synth_command", required=True, metavar="WHAT")

    dialogues = actions.add_parser(
        "dialogues",
        help="simulate multi-agent tool-use dialogues, validate them, write samples",
        description="Planner -> User -> Assistant -> Tool simulation with rule + judge validation. "
        "Resumable: rerun with the same --out to finish an interrupted run.",
    )
    dialogues.add_argument("--n", type=int, required=True, help="number of dialogues to simulate")
    dialogues.add_argument(
        "--tools",
        help="tool library JSONL (default: specs derived from the registered executable backends)",
    )
    dialogues.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="dialogues in flight (default: dialogue_synth.concurrency)",
    )
    add_config_arguments(dialogues)
    dialogues.set_defaults(handler=_synth_dialogues)

    apis = actions.add_parser(
        "apis",
        help="synthesize tool specs from the context tree x constraint tree",
    )
    apis.add_argument("--n", type=int, required=True, help="number of APIs to synthesize")
    apis.add_argument("--tools", help="existing tool library JSONL (new tools must not duplicate it)")
    add_config_arguments(apis)
    apis.set_defaults(handler=_synth_apis)


# ---------------------------------------------------------------------- traces


def _open_store(run_dir: str) -> Any:
    from looptool.traces import TraceStore, TraceStoreError

    path = Path(run_dir)
    if not path.exists():
        raise UserError(f"{path}: no such run folder")
    target = path if path.is_file() else path / "traces.sqlite"
    try:
        return TraceStore(target, readonly=True)
    except TraceStoreError as error:
        raise UserError(str(error)) from None


def _traces_show(args: argparse.Namespace) -> int:
    from looptool.traces import render_summary, render_trace

    store = _open_store(args.run_dir)
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


def _traces_html(args: argparse.Namespace) -> int:
    from looptool.traces import write_html

    store = _open_store(args.run_dir)
    try:
        default = (Path(args.run_dir) if Path(args.run_dir).is_dir() else Path(args.run_dir).parent) / "traces.html"
        target = write_html(store, Path(args.output) if args.output else default,
                            limit=args.limit, status=args.status)
    finally:
        store.close()
    console.print(f"wrote {target}")
    return 0


def _register_traces(subparsers: Any) -> None:
    traces = subparsers.add_parser("traces", help="inspect a run's traces (terminal or HTML)")
    actions = traces.add_subparsers(dest="traces_command", required=True, metavar="HOW")
    show = actions.add_parser("show", help="summary of a run's traces, or one trace in full")
    show.add_argument("run_dir", help="run folder (or a traces.sqlite file)")
    show.add_argument("--dialogue", "--id", dest="dialogue", help="trace id (dialogue or job id)")
    show.add_argument("--limit", type=int, default=50, help="traces listed in the summary")
    show.add_argument("--width", type=int, default=400, help="characters shown per event")
    show.set_defaults(handler=_traces_show)
    page = actions.add_parser("html", help="write a static HTML trace viewer")
    page.add_argument("run_dir", help="run folder (or a traces.sqlite file)")
    page.add_argument("--output", "-o", help="HTML file (default: RUN_DIR/traces.html)")
    page.add_argument("--limit", type=int, default=1000, help="only the last N traces (default 1000)")
    page.add_argument("--status", help="only traces with this status (accepted, rejected, failed, ...)")
    page.set_defaults(handler=_traces_html)


def register(subparsers: Any) -> None:
    """Add ``synth`` and ``traces`` to the ``looptool`` command line."""
    _register_synth(subparsers)
    _register_traces(subparsers)
