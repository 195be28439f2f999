"""The contamination guard: training tools that the evaluated benchmarks also offer.

A loop that trains on the tools a benchmark evaluates (same name, or the same description
under another name) measures memorisation, not tool use. :func:`find_overlaps` compares the
training samples' tools with the tool sets of the benchmark categories that will be
evaluated, and returns typed :class:`Overlap` records; :func:`overlap_message` turns them
into the error the controller shows when it refuses to start.

Known tool sets (both read from files, no subprocess, no model):

* ``bfcl_v3`` multi-turn categories: the methods of BFCL's backends (``GorillaFileSystem``,
  ``MathAPI``, ...), from ``multi_turn_func_doc/*.json`` in the BFCL data folder (the
  ``bfcl_eval`` package of ``.venvs/bfcl``, or ``eval.benchmark_options.bfcl_v3.data_dir``);
* ``acebench`` agent categories: the tools of its simulated APIs
  (:mod:`looptool.agents.backends.acebench`), per language.

Other categories offer per-entry functions, not fixed backends; they are not checked.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from looptool.schema import Sample, ToolSpec

log = logging.getLogger(__name__)

BFCL = "bfcl_v3"
ACEBENCH = "acebench"
#: class name of each multi-turn doc file (``MULTI_TURN_FUNC_DOC_FILE_MAPPING`` of bfcl-eval 2025.8.6.2)
BFCL_DOC_CLASSES: dict[str, str] = {
    "gorilla_file_system.json": "GorillaFileSystem",
    "math_api.json": "MathAPI",
    "message_api.json": "MessageAPI",
    "posting_api.json": "TwitterAPI",
    "ticket_api.json": "TicketAPI",
    "trading_bot.json": "TradingBot",
    "travel_booking.json": "TravelAPI",
    "vehicle_control.json": "VehicleControlAPI",
}
BFCL_DOC_DIR = "multi_turn_func_doc"
#: two descriptions this alike (share of distinct words) are the same tool under another name
DESCRIPTION_SIMILARITY = 0.8
MIN_DESCRIPTION_WORDS = 5
_WORD = re.compile(r"[a-z0-9]+")


class ContaminationCheckError(RuntimeError):
    """A benchmark's tool set cannot be read, so the check cannot be made."""


class Overlap(BaseModel):
    """One training tool that an evaluated benchmark category also offers."""

    model_config = ConfigDict(extra="forbid")

    tool: str
    benchmark: str
    categories: list[str]
    backend: str
    benchmark_tool: str
    why: str

    def describe(self) -> str:
        """One line, e.g. for ``RunReport.contamination``."""
        return (
            f"{self.tool}: {self.benchmark} {self.backend}.{self.benchmark_tool} ({self.why}) "
            f"in {', '.join(self.categories)}"
        )


@dataclass(frozen=True)
class BenchmarkTool:
    """A tool of a benchmark backend, and the evaluated categories that offer it."""

    benchmark: str
    backend: str
    name: str
    description: str
    categories: tuple[str, ...]


# ---------------------------------------------------------------- benchmark tool sets


def bfcl_data_dir(options: Mapping[str, Any]) -> Path:
    """The BFCL data folder: ``options['data_dir']``, else the one of ``bfcl_eval`` in the
    BFCL environment (found from its interpreter, as the benchmark's worker does)."""
    if options.get("data_dir"):
        return Path(str(options["data_dir"])).expanduser()
    from looptool.benchmarks.bfcl.worker_client import find_bfcl_python

    try:
        python = find_bfcl_python(options.get("python"))
    except FileNotFoundError as error:
        raise ContaminationCheckError(f"cannot read BFCL's multi-turn tools: {error}") from None
    environment = python.parent.parent  # <env>/bin/python, not resolved (a venv links the base)
    found = sorted(environment.glob("lib/python*/site-packages/bfcl_eval/data"))
    if not found:
        raise ContaminationCheckError(
            f"cannot read BFCL's multi-turn tools: no bfcl_eval/data under {environment}/lib "
            "(rebuild it with `scripts/setup.sh bfcl`, or set eval.benchmark_options.bfcl_v3.data_dir)"
        )
    return found[-1]


def _bfcl_description(text: str) -> str:
    """BFCL prefixes every description with the API's; keep the tool's own part."""
    return text.split("Tool description:", 1)[-1].strip()


def bfcl_multi_turn_tools(categories: Sequence[str], options: Mapping[str, Any]) -> list[BenchmarkTool]:
    """The methods of every BFCL multi-turn backend (every multi-turn category can use each)."""
    chosen = tuple(category for category in categories if category.startswith("multi_turn"))
    if not chosen:
        return []
    folder = bfcl_data_dir(options) / BFCL_DOC_DIR
    files = sorted(folder.glob("*.json"))
    if not files:
        raise ContaminationCheckError(f"cannot read BFCL's multi-turn tools: no *.json in {folder}")
    tools = []
    for path in files:
        backend = BFCL_DOC_CLASSES.get(path.name, path.stem)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                name, description = str(doc["name"]), str(doc.get("description", ""))
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise ContaminationCheckError(f"{path}:{number}: not a BFCL function doc ({error})") from None
            tools.append(BenchmarkTool(BFCL, backend, name, _bfcl_description(description), chosen))
    return tools


def acebench_agent_tools(categories: Sequence[str], options: Mapping[str, Any]) -> list[BenchmarkTool]:
    """The tools of ACEBench's simulated APIs, for the evaluated agent categories."""
    from looptool.benchmarks.acebench.categories import AGENT, Language, split_category

    by_language: dict[Language, list[str]] = {}
    for category in categories:
        language, stem = split_category(category)
        if stem in AGENT:
            by_language.setdefault(language, []).append(category)
    if not by_language:
        return []
    from looptool.agents.backends.acebench.environment import CLASSES

    tools = []
    for language, chosen in by_language.items():
        seen: set[str] = set()  # the phone apps inherit BaseApi's tools: name each once
        for backend, cls in CLASSES[language].items():
            for spec in cls.tool_specs():
                if spec.name not in seen:
                    seen.add(spec.name)
                    tools.append(BenchmarkTool(ACEBENCH, backend, spec.name, spec.description, tuple(chosen)))
    return tools


ToolSetReader = Callable[[Sequence[str], Mapping[str, Any]], list[BenchmarkTool]]

#: benchmark name -> the reader of the fixed tool sets its categories use
TOOL_SETS: dict[str, ToolSetReader] = {BFCL: bfcl_multi_turn_tools, ACEBENCH: acebench_agent_tools}


def benchmark_tools(
    evaluated: Mapping[str, Sequence[str]],
    benchmark_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[BenchmarkTool]:
    """The fixed tools of the evaluated categories (``evaluated``: benchmark -> categories or
    aliases, empty = all, as in the ``eval`` config). Unknown names raise with a suggestion."""
    from looptool.benchmarks.base import create_benchmark

    options = benchmark_options or {}
    tools: list[BenchmarkTool] = []
    for name, requested in evaluated.items():
        benchmark = create_benchmark(name, dict(options.get(name, {})))
        categories = benchmark.resolve_categories(list(requested))
        reader = TOOL_SETS.get(name)
        if reader is None:
            log.info("contamination check: %s has no fixed tool sets to compare with", name)
            continue
        tools.extend(reader(categories, options.get(name, {})))
    return tools


# ---------------------------------------------------------------- comparing


def normalize_name(name: str) -> str:
    """Case and separators do not make another tool: ``Send-Message`` = ``send_message``."""
    return re.sub(r"[.\-\s]+", "_", name.strip()).lower()


def _name_keys(name: str) -> set[str]:
    """The normalized name and, for ``Backend.method`` names, the method alone."""
    keys = {normalize_name(name)}
    if "." in name:
        keys.add(normalize_name(name.rsplit(".", 1)[1]))
    return keys


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def description_similarity(first: frozenset[str], second: frozenset[str]) -> float:
    """Share of distinct words the two descriptions have in common (Jaccard)."""
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)


def tools_of(samples: Iterable[Sample]) -> list[ToolSpec]:
    """The distinct tools (by name and description) offered by ``samples``."""
    seen: dict[tuple[str, str], ToolSpec] = {}
    for sample in samples:
        for tool in sample.tools:
            seen.setdefault((tool.name, tool.description), tool)
    return list(seen.values())


def find_overlaps(
    tools: Iterable[ToolSpec],
    evaluated: Mapping[str, Sequence[str]],
    *,
    benchmark_options: Mapping[str, Mapping[str, Any]] | None = None,
    known_tools: Sequence[BenchmarkTool] | None = None,
) -> list[Overlap]:
    """Training tools that the evaluated categories also offer: the same name (case and
    separators aside; ``Backend.method`` matches ``method``), or a description sharing at
    least :data:`DESCRIPTION_SIMILARITY` of its words. ``known_tools`` replaces the tool
    sets read for ``evaluated`` (tests, or a caller that read them once)."""
    training = {(tool.name, tool.description): tool for tool in tools}
    if not training:
        return []
    against = list(known_tools) if known_tools is not None else benchmark_tools(evaluated, benchmark_options)
    by_name: dict[str, list[BenchmarkTool]] = {}
    for target in against:
        by_name.setdefault(normalize_name(target.name), []).append(target)
    described = [
        (target, words) for target in against
        if len(words := _words(target.description)) >= MIN_DESCRIPTION_WORDS
    ]
    found: dict[tuple[str, str, str, str], Overlap] = {}

    def add(tool: ToolSpec, target: BenchmarkTool, why: str) -> None:
        key = (tool.name, target.benchmark, target.backend, target.name)
        if key in found:  # the same backend tool in another language's categories
            known = found[key].categories
            known.extend(category for category in target.categories if category not in known)
        else:
            found[key] = Overlap(
                tool=tool.name, benchmark=target.benchmark, categories=list(target.categories),
                backend=target.backend, benchmark_tool=target.name, why=why,
            )

    for tool in training.values():
        for key in _name_keys(tool.name):
            for target in by_name.get(key, []):
                add(tool, target, "same name" if tool.name == target.name else f"same name as {target.name!r}")
        words = _words(tool.description)
        if len(words) < MIN_DESCRIPTION_WORDS:
            continue
        for target, target_words in described:
            if min(len(words), len(target_words)) < DESCRIPTION_SIMILARITY * max(len(words), len(target_words)):
                continue  # too different in length to reach the threshold
            similarity = description_similarity(words, target_words)
            if similarity >= DESCRIPTION_SIMILARITY:
                add(tool, target, f"description {100 * similarity:.0f}% the same")
    return sorted(found.values(), key=lambda item: (item.benchmark, item.backend, item.benchmark_tool, item.tool))


def overlap_message(overlaps: Sequence[Overlap], *, allow_hint: str = "allow the overlap in the loop config") -> str:
    """The error shown when the loop refuses to start: what overlaps and the ways out."""
    if not overlaps:
        return "no training tool overlaps an evaluated benchmark"
    tools = sorted({overlap.tool for overlap in overlaps})
    lines = [
        f"{len(tools)} training tool(s) are also offered by evaluated benchmark categories, so the "
        "evaluation would reward having seen them in training:",
        *(f"  - {overlap.describe()}" for overlap in overlaps),
        f"Remove them from the seed sources, evaluate without those categories, or {allow_hint}.",
    ]
    return "\n".join(lines)
