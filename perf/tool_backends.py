"""Benchmark the tool layer: executable backend calls/s, importer throughput, simulator latency.

    .venv/bin/python perf/tool_backends.py                      # no server needed
    .venv/bin/python perf/tool_backends.py --base-url http://127.0.0.1:8765/v1 --sim-calls 8

Prints one JSON object with the numbers (and the machine's CPU count).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from looptool.agents.backends import create_backend
from looptool.agents.tool_import import import_paths
from looptool.schema import ToolCall, ToolSpec


def bench_backends(calls: int) -> dict[str, float]:
    """Calls per second through the executor (validation + method + JSON) per backend."""
    cases: dict[str, tuple[str, list[ToolCall]]] = {
        "calculator": ("calculator", [ToolCall(name="calculate", arguments={"expression": "(3 + 4) * sqrt(2) ^ 3"})]),
        "filesystem": ("filesystem", [
            ToolCall(name="write_file", arguments={"path": "/a/notes.txt", "content": "hello world"}),
            ToolCall(name="read_file", arguments={"path": "/a/notes.txt"}),
        ]),
        "calendar": ("calendar", [ToolCall(name="list_todos", arguments={"status": "all"})]),
        "invalid_arguments": ("calculator", [ToolCall(name="calculate", arguments={"expression": 5})]),
    }
    rates: dict[str, float] = {}
    for label, (backend_name, sequence) in cases.items():
        scenario = {"directories": ["/a"]} if backend_name == "filesystem" else None
        backend = create_backend(backend_name, scenario)
        started = time.perf_counter()
        for index in range(calls):
            backend.execute(sequence[index % len(sequence)])
        rates[label] = round(calls / (time.perf_counter() - started))
    return rates


def synthetic_openapi(operations: int) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for index in range(operations):
        paths[f"/items{index}/{{id}}"] = {
            "parameters": [{"$ref": "#/components/parameters/Id"}],
            "get": {"operationId": f"getItem{index}", "summary": f"Get item kind {index}",
                    "parameters": [{"name": "expand", "in": "query", "schema": {"type": "boolean"}}],
                    "responses": {"200": {"description": "ok", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Item"}}}}}},
            "put": {"operationId": f"putItem{index}", "summary": f"Replace item kind {index}",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Item"}}}},
                    "responses": {"204": {"description": "done"}}},
        }
    return {
        "openapi": "3.0.3", "info": {"title": "bench", "version": "1"}, "paths": paths,
        "components": {
            "parameters": {"Id": {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}},
            "schemas": {
                "Item": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"}, "owner": {"$ref": "#/components/schemas/Owner"},
                    "tags": {"type": "array", "items": {"type": "string"}}}},
                "Owner": {"type": "object", "properties": {"email": {"type": "string"},
                                                           "address": {"$ref": "#/components/schemas/Address"}}},
                "Address": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        },
    }


def bench_import(operations: int, functions: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "api.json").write_text(json.dumps(synthetic_openapi(operations)), encoding="utf-8")
        lines = [json.dumps({"id": f"simple_{i}", "function": [{
            "name": f"module.func_{i}", "description": "A function.",
            "parameters": {"type": "dict", "properties": {
                "x": {"type": "float", "description": "x"}, "items": {"type": "tuple", "items": {"type": "integer"}},
                "mode": {"type": "string", "enum": ["a", "b"]}}, "required": ["x"]}}]})
            for i in range(functions)]
        (root / "bfcl.json").write_text("\n".join(lines), encoding="utf-8")
        started = time.perf_counter()
        openapi = import_paths([root / "api.json"])
        openapi_s = time.perf_counter() - started
        started = time.perf_counter()
        bfcl = import_paths([root / "bfcl.json"])
        bfcl_s = time.perf_counter() - started
    return {"openapi_operations": len(openapi.tools), "openapi_ops_per_s": round(len(openapi.tools) / openapi_s),
            "bfcl_functions": len(bfcl.tools), "bfcl_functions_per_s": round(len(bfcl.tools) / bfcl_s)}


def bench_simulator(base_url: str, calls: int, max_tokens: int) -> dict[str, Any]:
    from looptool.agents.backends.settings import SimulatorSettings
    from looptool.agents.backends.simulated import SimulatedBackend
    from looptool.agents.chat_models import make_chat_model
    from looptool.config import RoleSettings, SamplingSettings

    spec = ToolSpec(
        name="get_weather", description="Current weather of a city.",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        returns={"type": "object", "properties": {"temp_c": {"type": "number"}, "conditions": {"type": "string"}},
                 "required": ["temp_c", "conditions"]},
    )
    model = make_chat_model(RoleSettings(base_urls=[base_url], sampling=SamplingSettings(max_tokens=max_tokens)),
                            "generator")
    cities = ["Paris", "Oslo", "Lima", "Kyoto", "Accra", "Quito", "Perth", "Bern"]

    async def one(city: str) -> tuple[bool, float]:
        sim = SimulatedBackend([spec], model, settings=SimulatorSettings(max_attempts=1))
        started = time.perf_counter()
        result = await sim.aexecute(ToolCall(name="get_weather", arguments={"city": city}))
        return result.ok, time.perf_counter() - started

    async def run_all() -> list[tuple[bool, float]]:
        return list(await asyncio.gather(*(one(cities[i % len(cities)]) for i in range(calls))))

    started = time.perf_counter()
    outcomes = asyncio.run(run_all())
    wall = time.perf_counter() - started
    latencies = sorted(latency for _, latency in outcomes)
    return {"calls_in_flight": calls, "ok": sum(ok for ok, _ in outcomes), "wall_s": round(wall, 2),
            "median_latency_s": round(latencies[len(latencies) // 2], 2),
            "calls_per_min": round(calls / wall * 60, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000, help="executable backend calls per case")
    parser.add_argument("--operations", type=int, default=500, help="synthetic OpenAPI paths (2 ops each)")
    parser.add_argument("--functions", type=int, default=2000, help="synthetic BFCL functions")
    parser.add_argument("--base-url", help="OpenAI-compatible URL for the simulator benchmark")
    parser.add_argument("--sim-calls", type=int, default=8, help="simulated calls in flight")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    report: dict[str, Any] = {"cpus": os.cpu_count(),
                              "backend_calls_per_s": bench_backends(args.calls),
                              "import": bench_import(args.operations, args.functions)}
    if args.base_url:
        report["simulator"] = bench_simulator(args.base_url, args.sim_calls, args.max_tokens)
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
