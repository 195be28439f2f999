"""API-synthesis throughput against a served model, and the cost of the rule checks.

For each concurrency level (requests in flight) it runs the real pipeline
(``run_api_synthesis``: tree sampling, the LangGraph graph, json_schema structured output,
rule validation, traces, output files) on a fresh run folder and reports requests and
generation attempts per minute, mean attempt latency and the completion tokens per second
the generator got from the server. ``--rules-only`` skips the server and times the rule
checks (sampling + merge + every rule + duplicate check) on conforming specs.

Usage (the shared development server; keep runs short on shared machines)::

    .venv/bin/python perf/api_synthesis_throughput.py \\
        --base-url http://127.0.0.1:8765/v1 --levels 1 4 8 --requests 3 8 8 --out /tmp/api.json
    .venv/bin/python perf/api_synthesis_throughput.py --rules-only

Tokens are counted on the client (the ``usage`` of every response), so other load on a
shared server lowers the numbers but is not counted in them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from looptool.agents.api_generator import (
    ApiDraft,
    ApiRequest,
    FieldDraft,
    ItemsDraft,
    ParameterDraft,
    ParameterRequirement,
    ReturnsDraft,
    apply_convention,
    draft_to_spec,
    split_words,
)
from looptool.config import load_config
from looptool.graphs.api_synthesis.library import KnownTools
from looptool.graphs.api_synthesis.rules import check_rules
from looptool.graphs.api_synthesis.run import run_api_synthesis
from looptool.graphs.api_synthesis.sampling import constraint_path, context_leaf, merge_request
from looptool.graphs.api_synthesis.trees import load_constraint_tree, load_context_tree
from looptool.logs import console, setup_logging
from looptool.traces import EventKind, TraceStore

log = logging.getLogger("api_synthesis_throughput")


class LevelResult(BaseModel):
    concurrency: int
    requests: int
    accepted: int
    rejected: int
    model_failures: int
    attempts: int
    wall_s: float
    requests_per_min: float
    attempts_per_min: float
    mean_attempt_s: float
    completion_tokens: int
    completion_tokens_per_s: float


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def run_level(args: argparse.Namespace, concurrency: int, requests: int) -> LevelResult:
    config = load_config(
        None,
        [
            f"roles.generator.base_urls=[{args.base_url}]",
            f"roles.generator.model={args.model}",
            "roles.generator.timeout_s=600",
            f"api_synth.concurrency={concurrency}",
            f"api_synth.max_attempts={args.max_attempts}",
            f"api_synth.max_tokens={args.max_tokens}",
            f"api_synth.seed={args.seed}",
        ],
    )
    with tempfile.TemporaryDirectory(prefix="api-bench-") as folder:
        started = time.perf_counter()
        report = run_api_synthesis(config, Path(folder), requests, [], progress=True)
        wall = time.perf_counter() - started
        store = TraceStore.for_run(folder, readonly=True)
        try:
            latencies = [
                event.latency_s
                for info in store.traces(kind="api_synthesis")
                for event in store.events(info.trace_id, kind=EventKind.LLM_CALL)
            ]
        finally:
            store.close()
    mean_attempt = sum(latencies) / len(latencies) if latencies else float("nan")
    return LevelResult(
        concurrency=concurrency,
        requests=requests,
        accepted=report.accepted,
        rejected=report.rejected,
        model_failures=report.retryable_failures,
        attempts=report.attempts,
        wall_s=round(wall, 1),
        requests_per_min=round(60 * requests / wall, 2),
        attempts_per_min=round(60 * report.attempts / wall, 2),
        mean_attempt_s=round(mean_attempt, 1),
        completion_tokens=report.completion_tokens,
        completion_tokens_per_s=round(report.completion_tokens / wall, 1),
    )


POSITIONS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
             "juliet", "kilo", "lima"]


def _required_count(wanted: ParameterRequirement) -> int:
    """The fewest required parameters that fit the request's required/optional bounds."""
    count = wanted.max_count
    for required in range(count + 1):
        optional = count - required
        if (required >= wanted.min_required
                and (wanted.max_required is None or required <= wanted.max_required)
                and optional >= wanted.min_optional
                and (wanted.max_optional is None or optional <= wanted.max_optional)):
            return required
    raise ValueError(f"request {wanted.required_option!r}: no required/optional split fits {count} parameters")


def conforming_draft(request: ApiRequest) -> ApiDraft:
    """A draft that meets every constraint of ``request``, as a perfect generator would write it."""
    convention = request.naming.convention

    def name(*words: str) -> str:
        return apply_convention(list(words), convention)

    words = [word for word in split_words(request.intent) if word.isalnum()] or ["do"]
    if len(words) < request.min_function_name_words:
        words = ["run", *words]
    wanted = request.parameters
    features = sorted(wanted.must_include, key=["array", "object", "enum"].index)
    enum_in_object = len(features) > wanted.max_count and "enum" in features
    if enum_in_object:
        features.remove("enum")
    parameters: dict[str, ParameterDraft] = {}
    for position in range(wanted.max_count):
        feature = features.pop(0) if features else None
        key = name(words[-1], POSITIONS[position])
        if feature == "enum":
            parameters[key] = ParameterDraft(type="string", description="A choice of mode.", enum=["fast", "slow"])
        elif feature == "array":
            parameters[key] = ParameterDraft(type="array", description="A list of tags.",
                                             items=ItemsDraft(type="string", description="A tag."))
        elif feature == "object":
            fields = {name("max", "price"): FieldDraft(type="number", description="Highest price.")}
            if enum_in_object:
                fields[name("sort", "order")] = FieldDraft(type="string", description="Sort order.", enum=["asc", "desc"])
            parameters[key] = ParameterDraft(type="object", description="Nested filters.", properties=fields)
        else:
            parameters[key] = ParameterDraft(type="string", description=f"Value {position} for {request.intent}.")
    wanted_returns = request.returns
    returns = ReturnsDraft(type=wanted_returns.types[0], description="The result.")
    if returns.type == "object":
        names = wanted_returns.required_properties or ["status", "detail", "extra"][: max(2, wanted_returns.min_properties)]
        returns.properties = {field: FieldDraft(type="string", description=f"The {field}.") for field in names}
    elif returns.type == "array":
        item_type = wanted_returns.items_type or "string"
        returns.items = ItemsDraft(
            type=item_type,
            description="One entry.",
            properties={"label": FieldDraft(type="string", description="A label.")} if item_type == "object" else None,
        )
    return ApiDraft(
        name=name(*words),
        description=f"{request.intent_description or request.intent} (synthesized).",
        parameters=parameters,
        required=list(parameters)[: _required_count(wanted)],
        returns=returns,
    )


def rules_only(count: int) -> dict[str, Any]:
    """Time sampling + merge + all rules + the duplicate check on conforming specs."""
    context, constraints = load_context_tree(), load_constraint_tree()
    requests = [
        merge_request(context_leaf(context, 0, i), constraints, constraint_path(constraints, 0, i), index=i)
        for i in range(count)
    ]
    specs = [draft_to_spec(conforming_draft(request)) for request in requests]
    known = KnownTools()
    started = time.perf_counter()
    violations = 0
    for index, (request, spec) in enumerate(zip(requests, specs, strict=True)):
        violations += len(check_rules(spec, request))
        known.claim(spec, f"spec {index}")
    elapsed = time.perf_counter() - started
    return {"specs": count, "violations": violations, "seconds": round(elapsed, 3),
            "specs_per_s": round(count / elapsed, 1), "us_per_spec": round(1e6 * elapsed / count, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8765/v1")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--requests", type=int, nargs="+", default=[3, 8, 8], help="requests per level")
    parser.add_argument("--max-attempts", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rules-only", action="store_true", help="time the rule checks only (no server)")
    parser.add_argument("--rules-count", type=int, default=2000)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    setup_logging("WARNING")
    result: dict[str, Any] = {"machine": machine()}
    if args.rules_only:
        result["rules"] = rules_only(args.rules_count)
        console.print(result["rules"])
    else:
        if len(args.requests) != len(args.levels):
            parser.error("--requests needs one count per --levels entry")
        levels = [run_level(args, level, count) for level, count in zip(args.levels, args.requests, strict=True)]
        result["levels"] = [level.model_dump() for level in levels]
        for level in levels:
            console.print(level.model_dump())
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
