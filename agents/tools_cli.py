"""``looptool tools ...``: import tool specs into a library, list, inspect and try tool backends.

    looptool tools import specs/ bfcl/BFCL_v3_simple.json --out tools.jsonl
    looptool tools list-backends
    looptool tools spec calculator
    looptool tools call calculator calculate --args '{"expression": "2 + 3"}'
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from looptool.agents.backends.registry import REGISTRY, UnknownBackendError, create_backend
from looptool.agents.tool_import.library import read_library, write_library
from looptool.agents.tool_import.loader import import_paths
from looptool.commands import output_file
from looptool.errors import UserError, unknown_name_message
from looptool.jsonl import DataFileError, read_text, write_jsonl
from looptool.logs import console
from looptool.schema import ToolCall

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tools", help="tool library and tool backends")
    commands = parser.add_subparsers(dest="tools_command", required=True, metavar="ACTION")

    importer = commands.add_parser(
        "import",
        help="import OpenAI/BFCL function specs and OpenAPI 3 documents into a tool library",
        description="Import tool specs (files or folders of .json/.jsonl/.yaml/.yml) into a "
        "tool library JSONL with provenance per tool. Invalid specs are reported and skipped.",
    )
    importer.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    importer.add_argument("--out", "-o", "--output", dest="output", default="tools.jsonl",
                          help="library file to write (default: tools.jsonl)")
    importer.add_argument("--format", choices=["auto", "openai", "bfcl", "openapi"],
                          default="auto", help="input format (default: detect per file)")
    mode = importer.add_mutually_exclusive_group()
    mode.add_argument("--merge", action="store_true",
                      help="add to an existing library instead of refusing to overwrite it")
    mode.add_argument("--force", action="store_true", help="overwrite an existing library")
    importer.add_argument("--strict", action="store_true",
                          help="exit with status 1 when any spec was invalid")
    importer.set_defaults(handler=run_import)

    lister = commands.add_parser("list-backends", help="list the registered tool backends")
    lister.set_defaults(handler=run_list_backends)

    spec = commands.add_parser("spec", help="print the tool specs derived from a backend")
    spec.add_argument("backend", help="backend name (see list-backends)")
    spec.add_argument("--openai", action="store_true",
                      help='print OpenAI "tools" entries instead of LoopTool ToolSpecs')
    spec.set_defaults(handler=run_spec)

    call = commands.add_parser(
        "call",
        help="run one tool call on a backend, without a model",
        description="Run one call of a backend's tool and print the result the model would see "
        "(exit status 1 when the tool reports an error).",
    )
    call.add_argument("backend", help="backend name (see list-backends)")
    call.add_argument("tool", help="tool name (see tools spec BACKEND)")
    call.add_argument("--args", dest="arguments", default="{}", metavar="JSON",
                      help="the call's arguments as a JSON object (default: {})")
    call.add_argument("--scenario", metavar="FILE",
                      help="JSON file with the backend's initial state (a scenario's state dict)")
    call.add_argument("--show-state", action="store_true",
                      help="also print the backend's state after the call")
    call.set_defaults(handler=run_call)


def issues_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.issues.jsonl")


def run_import(args: argparse.Namespace) -> int:
    output = output_file(args.output, "--out", "tools.jsonl")
    existing = []
    if output.exists():
        if args.merge:
            existing = read_library(output)
        elif not args.force:
            raise UserError(f"{output} exists; pass --merge to add to it or --force to replace it")
    report = import_paths(args.paths, args.format, existing=existing)
    if not report.tools:
        for issue in report.issues:
            log.error("%s", issue)
        raise UserError(f"no valid tool spec found in {', '.join(args.paths)}; nothing written")
    count = write_library(output, report.tools)
    problems = issues_path(output)
    if report.issues:
        write_jsonl(problems, report.issues)
    elif problems.exists():
        problems.unlink()
    for issue in report.issues:
        (log.warning if issue.severity == "error" else log.info)("%s", issue)
    formats: dict[str, int] = {}
    for tool in report.tools:
        for item in tool.provenance[:1]:
            formats[item.format] = formats.get(item.format, 0) + 1
    table = Table(title=f"tool library {output}")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("tools written", str(count))
    for fmt, number in sorted(formats.items()):
        table.add_row(f"  from {fmt}", str(number))
    table.add_row("duplicates merged", str(report.merged_duplicates))
    table.add_row("renamed (same name, other schema)", str(report.renamed))
    table.add_row("invalid specs skipped", str(len(report.errors)))
    console.print(table)
    if report.issues:
        console.print(f"problems listed in {problems}")
    return 1 if args.strict and report.errors else 0


def run_list_backends(args: argparse.Namespace) -> int:
    table = Table(title="tool backends")
    table.add_column("backend")
    table.add_column("source")
    table.add_column("tools")
    for registered in REGISTRY.entries():
        specs = registered.value.tool_specs()
        table.add_row(registered.name, registered.source, ", ".join(spec.name for spec in specs))
    for name, reason in sorted(REGISTRY.failures().items()):
        table.add_row(name, "[red]failed[/red]", reason)
    Console().print(table)
    return 0


def run_spec(args: argparse.Namespace) -> int:
    try:
        specs = REGISTRY.get(args.backend).tool_specs()
    except UnknownBackendError as error:
        raise UserError(str(error)) from None
    data = [spec.to_openai() if args.openai else spec.model_dump(mode="json") for spec in specs]
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return 0


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{what}: not valid JSON: {error.msg} at column {error.colno}") from None
    if not isinstance(value, dict):
        raise UserError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def run_call(args: argparse.Namespace) -> int:
    try:
        backend_class = REGISTRY.get(args.backend)
    except UnknownBackendError as error:
        raise UserError(str(error)) from None
    names = [spec.name for spec in backend_class.tool_specs()]
    if args.tool not in names:
        raise UserError(unknown_name_message(args.tool, names, f"{args.backend} tool"))
    arguments = _json_object(args.arguments, "--args")
    scenario = None
    if args.scenario:
        try:
            scenario = _json_object(read_text(args.scenario), f"--scenario {args.scenario}")
        except (DataFileError, FileNotFoundError) as error:
            raise UserError(f"--scenario: {error}") from None
    backend = create_backend(args.backend, scenario, registry=REGISTRY)
    result = backend.execute(ToolCall(name=args.tool, arguments=arguments))
    sys.stdout.write(result.content + "\n")
    if args.show_state:
        sys.stdout.write(json.dumps(backend.snapshot(), indent=2, ensure_ascii=False) + "\n")
    return 0 if result.ok else 1
