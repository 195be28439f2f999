"""Scripted role replies, tool specs and a tool runner for the dialogue graph tests (tests only;
the scripted chat model itself is ``tests.fake_models``)."""

from __future__ import annotations

import json
from typing import Any

from looptool.agents.backends.base import ToolResult
from looptool.schema import ToolCall, ToolSpec


def plan_json(task: str = "Add 2 and 3", details: list[str] | None = None) -> str:
    return json.dumps({"task": task, "steps": ["call add"], "user_details": details or ["a=2", "b=3"]})


def user_json(message: str, done: bool = False) -> str:
    return json.dumps({"message": message, "done": done})


def verdict_json(consistent: bool, reason: str = "fine") -> str:
    return json.dumps({"reason": reason, "consistent": consistent})


def hermes(name: str, arguments: dict[str, Any]) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


ADD_TOOL = ToolSpec(
    name="add",
    description="Add two integers.",
    parameters={
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)

WEATHER_TOOL = ToolSpec(
    name="get_weather",
    description="Weather for a city.",
    parameters={
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["C", "F"], "default": "C"},
        },
        "required": ["city"],
    },
)


class ScriptedToolRunner:
    """A ToolRunner: ``add`` really adds; ``fail=True`` makes every call fail."""

    def __init__(self, tools: list[ToolSpec], *, fail: bool = False) -> None:
        self.tools = tools
        self.fail = fail
        self.calls: list[ToolCall] = []

    def tool_specs(self) -> list[ToolSpec]:
        return list(self.tools)

    def execute(self, call: ToolCall) -> ToolResult:
        self.calls.append(call)
        if self.fail:
            return ToolResult(name=call.name, call_id=call.id, ok=False, error="backend down",
                              content=json.dumps({"error": "backend down"}))
        if call.name == "add":
            value: Any = call.arguments.get("a", 0) + call.arguments.get("b", 0)
        else:
            value = {"temperature": 21}
        return ToolResult(name=call.name, call_id=call.id, ok=True, content=json.dumps(value))

    async def aexecute(self, call: ToolCall) -> ToolResult:
        return self.execute(call)

    def snapshot(self) -> dict[str, Any]:
        return {"calls": len(self.calls)}
