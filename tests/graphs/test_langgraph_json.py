"""``langgraph.json`` lists every graph, and each loads the way LangGraph's server loads it
(the file by path, in a fresh process) with the default config and with the smoke recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = json.loads((ROOT / "langgraph.json").read_text(encoding="utf-8"))["graphs"]

LOADER = """
import importlib.util, inspect, json, sys
from pathlib import Path
loaded = {}
for name, target in json.loads(Path("langgraph.json").read_text()).get("graphs", {}).items():
    path, _, attribute = target.partition(":")
    spec = importlib.util.spec_from_file_location(f"langgraph_json_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    graph = getattr(module, attribute)
    if not hasattr(graph, "get_graph"):  # a factory: LangGraph passes the run's config
        graph = graph({"configurable": {}}) if inspect.signature(graph).parameters else graph()
    loaded[name] = {"name": graph.name, "nodes": sorted(graph.get_graph().nodes)}
print(json.dumps(loaded))
"""


def test_every_graph_module_is_listed() -> None:
    listed = {target.partition(":")[0].removeprefix("./") for target in ENTRIES.values()}
    modules = {str(path.relative_to(ROOT)) for path in (ROOT / "graphs").glob("*/graph.py")}
    assert modules <= listed, f"graphs missing from langgraph.json: {sorted(modules - listed)}"
    assert {"api_synthesis", "dialogue_simulation", "validation", "jglv_judging", "edde_expansion"} <= set(ENTRIES)


@pytest.mark.parametrize("config", [None, "configs/smoke.yaml"])
def test_every_listed_graph_loads(config: str | None) -> None:
    env = {key: value for key, value in os.environ.items() if key != "LOOPTOOL_CONFIG"}
    if config:
        env["LOOPTOOL_CONFIG"] = str(ROOT / config)
    done = subprocess.run([sys.executable, "-c", LOADER], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(loaded) == set(ENTRIES)
    for name, graph in loaded.items():
        assert graph["name"] == name
        assert len(graph["nodes"]) > 2, graph  # __start__, __end__ and the graph's own nodes
