"""The Tool role: run an assistant step's calls on the dialogue's toolbox and trace them.

Glue between the dialogue graph and :mod:`agents.backends`: each offered tool runs on the
executable backend registered for it when one fits (calculator, file system, calendar, ...),
else on the LLM-simulated backend (built per dialogue by a factory, so its state summary
lives as long as the dialogue). Backends never raise: failures come back as tool messages
``{"error": ...}`` that the assistant sees, and are counted for the stop rule.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from looptool.agents.backends.base import ToolResult, ToolRunner
from looptool.agents.backends.executor import error_result
from looptool.agents.backends.toolbox import SIMULATED, Toolbox, build_toolbox
from looptool.schema import Message, ToolCall, ToolSpec
from looptool.traces import EventKind, TokenUsage, TraceStore

#: Builds the LLM simulator for one dialogue's tools (None: tools without an executable
#: backend answer with an error).
SimulatorFactory = Callable[[list[ToolSpec]], ToolRunner | None]


@dataclass
class ToolStepResult:
    """The results of one assistant step's calls, in call order."""

    results: list[ToolResult]

    @property
    def messages(self) -> list[Message]:
        return [result.to_message() for result in self.results]

    @property
    def all_failed(self) -> bool:
        return bool(self.results) and not any(result.ok for result in self.results)


def make_toolbox(
    tools: list[ToolSpec], simulator_factory: SimulatorFactory | None, *, executable: bool = True
) -> Toolbox:
    """The toolbox of one dialogue: executable backends where they fit, else the simulator."""
    toolbox = build_toolbox(tools, simulator=None, executable=executable)
    if simulator_factory is not None and SIMULATED in toolbox.routes.values():
        simulated = [tool for tool in tools if toolbox.route(tool.name) == SIMULATED]
        toolbox.simulator = simulator_factory(simulated)
    return toolbox


def _simulator_usage(toolbox: ToolRunner, call: ToolCall, route: str | None) -> TokenUsage | None:
    """Tokens the LLM simulator spent on ``call`` (from its call history), if simulated."""
    if route != SIMULATED or not isinstance(toolbox, Toolbox) or toolbox.simulator is None:
        return None
    state = getattr(toolbox.simulator, "state", None)
    for item in reversed(getattr(state, "calls", []) or []):
        if getattr(item, "name", None) == call.name and getattr(item, "arguments", None) == call.arguments:
            return TokenUsage(getattr(item, "input_tokens", None), getattr(item, "output_tokens", None))
    return None


async def run_tool_calls(
    toolbox: ToolRunner,
    calls: list[ToolCall],
    *,
    traces: TraceStore | None = None,
    trace_id: str = "",
    parallel: bool = False,
) -> ToolStepResult:
    """Run ``calls`` in order (concurrently when ``parallel``), recording each call and result.

    In order by default: the LLM simulator keeps one state summary per dialogue, and two
    calls answered at the same time would each update it without seeing the other."""

    async def one(call: ToolCall) -> ToolResult:
        started = time.time()
        try:
            result = await toolbox.aexecute(call)
        except Exception as error:  # a runner must not raise; keep the dialogue going anyway
            result = error_result(call, f"tool runner failed: {type(error).__name__}: {error}")
        if traces is not None and trace_id:
            route = toolbox.route(call.name) if isinstance(toolbox, Toolbox) else None
            traces.record(trace_id, EventKind.TOOL_CALL, node="tool", role="tool",
                          content=call.name, data={"arguments": call.arguments, "id": call.id,
                                                   "route": route}, started_at=started,
                          ended_at=started)
            traces.record(trace_id, EventKind.TOOL_RESULT, node="tool",
                          role="tool_simulator" if route == SIMULATED else "tool",
                          content=result.content,
                          data={"ok": result.ok, "error": result.error, "backend": result.backend,
                                "name": result.name},
                          started_at=started, usage=_simulator_usage(toolbox, call, route))
        return result

    if parallel:
        results = list(await asyncio.gather(*(one(call) for call in calls)))
    else:
        results = [await one(call) for call in calls]
    return ToolStepResult(results=results)
