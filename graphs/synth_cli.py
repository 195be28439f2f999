"""``looptool synth ...``: seed-data synthesis.

* ``looptool synth dialogues --n N [--tools LIBRARY.jsonl]`` simulates dialogues and writes
  ``dialogues.jsonl``, ``samples.jsonl``, ``rejects.jsonl`` and ``traces.sqlite``.
* ``looptool synth apis --n N`` synthesizes tool specs from the context/constraint trees.

A run's traces are read with ``looptool traces ...`` (:mod:`looptool.traces_cli`).

Heavy imports (LangGraph, langchain) happen inside the handlers so ``looptool --help``
stays fast.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from looptool.commands import add_config_arguments, start_run
from looptool.errors import UserError
from looptool.logs import console

log = logging.getLogger("looptool.synth")

# ---------------------------------------------------------------------- synth


def _check_servers(config: Any, roles: list[str]) -> None:
    """Fail fast, naming the URL, when a role's model server does not answer."""
    import asyncio

    from looptool.completions import OpenAICompatClient
    from looptool.roles import role_settings
    from looptool.transport import LLMConfigError

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


def register(subparsers: Any) -> None:
    """Add ``synth`` to the ``looptool`` command line."""
    _register_synth(subparsers)
