"""Per dialogue: executable backend registered for a tool, else the simulator."""

from __future__ import annotations

import asyncio
import json

from looptool.agents.backends import REGISTRY
from looptool.agents.backends.simulated import SimulatedBackend
from looptool.agents.backends.toolbox import build_toolbox, executable_backend_for
from looptool.schema import ToolCall, ToolSpec
from tests.fake_models import ScriptedChatModel

CALCULATE = next(spec for spec in REGISTRY.get("calculator").tool_specs() if spec.name == "calculate")
LOOKALIKE = ToolSpec(name="calculate", description="Different parameters.",
                     parameters={"type": "object", "properties": {"formula": {"type": "string"}},
                                 "required": ["formula"]})
WEATHER = ToolSpec(name="get_weather", description="Weather.",
                   parameters={"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"]})


def test_routing_prefers_matching_executable_backends() -> None:
    assert executable_backend_for(CALCULATE) == "calculator"
    assert executable_backend_for(LOOKALIKE) is None
    assert executable_backend_for(WEATHER) is None


def test_toolbox_runs_executable_and_simulated_tools() -> None:
    model = ScriptedChatModel(replies=[{"outcome": "success", "result": {"temp_c": 12},
                                        "error_message": "", "state_summary": "Oslo 12C",
                                        "changes_state": False}], structured_output=False)
    tools = [CALCULATE, WEATHER]
    box = build_toolbox(tools, simulator=SimulatedBackend(tools, model))
    assert box.route("calculate") == "calculator" and box.route("get_weather") == "simulated"
    calc = box.execute(ToolCall(name="calculate", arguments={"expression": "6*7"}))
    assert calc.backend == "calculator" and json.loads(calc.content)["result"] == 42
    weather = asyncio.run(box.aexecute(ToolCall(name="get_weather", arguments={"city": "Oslo"})))
    assert weather.backend == "simulated" and json.loads(weather.content) == {"temp_c": 12}
    missing = box.execute(ToolCall(name="rm_rf", arguments={}))
    assert not missing.ok and "not available (offered: calculate, get_weather)" in missing.content
    state = box.snapshot()
    assert state["calculator"]["history"][0]["result"] == 42
    assert state["simulated"]["state_summary"] == "Oslo 12C"


def test_without_simulator_unimplemented_tools_fail_clearly() -> None:
    box = build_toolbox([LOOKALIKE])
    result = box.execute(ToolCall(name="calculate", arguments={"formula": "1+1"}))
    assert not result.ok and "no simulator is configured" in result.content
    everything_simulated = build_toolbox([CALCULATE], executable=False)
    assert everything_simulated.route("calculate") == "simulated"


def test_scenarios_reach_the_backends() -> None:
    read_file = next(spec for spec in REGISTRY.get("filesystem").tool_specs() if spec.name == "read_file")
    box = build_toolbox([read_file], scenarios={"filesystem": {"files": {"/a.txt": "hi"}}})
    assert box.execute(ToolCall(name="read_file", arguments={"path": "/a.txt"})).content == '"hi"'
