"""One dialogue's tools: each offered tool runs on an executable backend when one is
registered for it, else on the LLM simulator.

A registered backend *fits* an offered :class:`ToolSpec` when it defines a tool of the same
name whose parameters have the same property names and the same required set (so a
synthesized ``create_event`` with other parameters is simulated, not sent to the calendar).
Backends are instantiated once per toolbox, so their state lives for one dialogue::

    box = build_toolbox(offered_tools, simulator=SimulatedBackend(offered_tools, chat_model))
    result = await box.aexecute(call)      # ToolResult; never raises
    message = result.to_message()          # the tool message for the dialogue
    box.route("calculate")                 # "calculator" or "simulated"
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict

from looptool.agents.backends.base import ToolBackend, ToolResult, ToolRunner
from looptool.agents.backends.executor import error_result
from looptool.agents.backends.registry import REGISTRY, BackendRegistry, create_backend
from looptool.schema import ToolCall, ToolSpec

log = logging.getLogger(__name__)

SIMULATED = "simulated"


def specs_compatible(offered: ToolSpec, implemented: ToolSpec) -> bool:
    """Same name, same parameter names, same required parameters."""
    return (
        offered.name == implemented.name
        and set(offered.properties) == set(implemented.properties)
        and set(offered.required) == set(implemented.required)
    )


def executable_backend_for(spec: ToolSpec, registry: BackendRegistry | None = None) -> str | None:
    """The name of the registered backend that implements ``spec``, or None (-> simulate).

    When several fit, the first by name wins (deterministic).
    """
    registry = registry or REGISTRY
    for registered in registry.entries():
        for implemented in registered.value.tool_specs():
            if specs_compatible(spec, implemented):
                return registered.name
    return None


class ToolRoute(BaseModel):
    """Where one offered tool runs."""

    model_config = ConfigDict(extra="forbid")

    tool: str
    backend: str  # a registry name or "simulated"


class Toolbox:
    """Runs the calls of one dialogue; implements :class:`ToolRunner`."""

    def __init__(
        self,
        tools: list[ToolSpec],
        *,
        simulator: ToolRunner | None = None,
        registry: BackendRegistry | None = None,
        scenarios: dict[str, dict[str, Any]] | None = None,
        executable: bool = True,
    ) -> None:
        self.tools = {tool.name: tool for tool in tools}
        self.simulator = simulator
        self.registry = registry or REGISTRY
        self.backends: dict[str, ToolBackend] = {}
        self.routes: dict[str, str] = {}
        scenarios = scenarios or {}
        for tool in tools:
            backend_name = executable_backend_for(tool, self.registry) if executable else None
            if backend_name is None:
                self.routes[tool.name] = SIMULATED
                continue
            if backend_name not in self.backends:
                self.backends[backend_name] = create_backend(
                    backend_name, scenarios.get(backend_name), self.registry
                )
            self.routes[tool.name] = backend_name

    def route(self, tool_name: str) -> str | None:
        """``"simulated"``, the backend name, or None when the tool is not offered."""
        return self.routes.get(tool_name)

    def describe_routes(self) -> list[ToolRoute]:
        return [ToolRoute(tool=name, backend=backend) for name, backend in self.routes.items()]

    def tool_specs(self) -> list[ToolSpec]:
        return list(self.tools.values())

    def _refuse(self, call: ToolCall) -> ToolResult | None:
        if call.name not in self.routes:
            offered = ", ".join(self.routes) or "none"
            return error_result(call, f"tool {call.name!r} is not available (offered: {offered})")
        if self.routes[call.name] == SIMULATED and self.simulator is None:
            return error_result(
                call,
                f"no backend for tool {call.name!r}: no executable backend implements it "
                "and no simulator is configured",
            )
        return None

    def execute(self, call: ToolCall) -> ToolResult:
        refused = self._refuse(call)
        if refused is not None:
            return refused
        route = self.routes[call.name]
        if route == SIMULATED:
            assert self.simulator is not None
            return self.simulator.execute(call)
        return self.backends[route].execute(call)

    async def aexecute(self, call: ToolCall) -> ToolResult:
        refused = self._refuse(call)
        if refused is not None:
            return refused
        route = self.routes[call.name]
        if route == SIMULATED:
            assert self.simulator is not None
            return await self.simulator.aexecute(call)
        return self.backends[route].execute(call)

    def snapshot(self) -> dict[str, Any]:
        """``{backend name: its state, "simulated": the simulator's state}``."""
        state: dict[str, Any] = {name: backend.snapshot() for name, backend in self.backends.items()}
        if self.simulator is not None and SIMULATED in self.routes.values():
            state[SIMULATED] = self.simulator.snapshot()
        return state


def build_toolbox(
    tools: list[ToolSpec],
    *,
    simulator: ToolRunner | None = None,
    registry: BackendRegistry | None = None,
    scenarios: dict[str, dict[str, Any]] | None = None,
    executable: bool = True,
) -> Toolbox:
    """A :class:`Toolbox` for one dialogue (``executable=False`` simulates every tool)."""
    return Toolbox(tools, simulator=simulator, registry=registry, scenarios=scenarios,
                   executable=executable)
