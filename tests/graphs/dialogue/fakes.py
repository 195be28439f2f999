"""Scripted chat models and tool runners for deterministic graph tests (tests only)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from looptool.agents.backends.base import ToolResult
from looptool.schema import ToolCall, ToolSpec

Responder = Callable[[list[BaseMessage]], str]


class ScriptedChatModel(BaseChatModel):
    """Answers with ``script`` (a list consumed in order, or a function of the prompt);
    records every prompt and the kwargs (``response_format``) it was called with."""

    script: Any
    name_tag: str = "scripted"
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _kwargs: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> list[list[BaseMessage]]:
        return self._calls

    @property
    def call_kwargs(self) -> list[dict[str, Any]]:
        return self._kwargs

    def _next(self, messages: list[BaseMessage]) -> str:
        if callable(self.script):
            return str(self.script(messages))
        index = len(self._calls) - 1
        if index >= len(self.script):
            raise AssertionError(f"{self.name_tag}: script exhausted after {len(self.script)} replies")
        return str(self.script[index])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._calls.append(list(messages))
        self._kwargs.append(dict(kwargs))
        text = self._next(messages)
        usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text, usage_metadata=usage))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        # no executor thread: concurrent calls are answered in the order they were made
        return self._generate(messages, stop, None, **kwargs)


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
