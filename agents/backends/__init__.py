"""Tool backends: the code that answers a model's tool calls.

Two kinds share one calling convention (:class:`ToolRunner`: ``tool_specs()``,
``execute(call)``, ``aexecute(call)``, ``snapshot()``):

* **Executable backends** — plain stateful classes whose public, type-annotated, docstringed
  methods are the tools (:class:`ToolBackend`, rules in :mod:`agents.backends.base`). Their
  :class:`~looptool.schema.ToolSpec`s are derived from the code (:mod:`agents.backends.specs`);
  :func:`execute_tool_call` validates the arguments against that schema, calls the method and
  returns a :class:`ToolResult` (JSON text; errors as ``{"error": ...}``), never raising.
  Registered with :func:`register_backend` into :data:`REGISTRY` (a
  :class:`looptool.registry.Registry`); outside packages add
  theirs through the entry-point group ``looptool.backends``. Shipped: ``calculator``
  (arithmetic + unit conversion), ``filesystem`` (in-memory, confined to its own state),
  ``calendar`` (events + to-dos).
* **The LLM-simulated backend** (:mod:`agents.backends.simulated`) answers any ToolSpec with a
  model, keeping a running state summary so repeated calls in one dialogue agree.

:func:`agents.backends.toolbox.build_toolbox` combines them for one dialogue: each offered tool
runs on the executable backend registered for it when one fits, else on the simulator.

Minimal example::

    from looptool.agents.backends import ToolBackend, ToolError, register_backend

    @register_backend("counter")
    class Counter(ToolBackend):
        '''A counter.'''

        def __init__(self) -> None:
            self.value = 0

        def increment(self, by: int = 1) -> int:
            '''Add to the counter and return the new value.

            Args:
                by: How much to add (positive).
            '''
            if by <= 0:
                raise ToolError("by must be positive")
            self.value += by
            return self.value

See ``docs/tools.md`` for the full guide.
"""

from looptool.agents.backends.base import (
    BackendDefinitionError,
    ToolBackend,
    ToolError,
    ToolResult,
    ToolRunner,
    not_a_tool,
)
from looptool.agents.backends.executor import error_result, execute_tool_call
from looptool.agents.backends.registry import (
    ENTRY_POINT_GROUP,
    REGISTRY,
    BackendRegistry,
    UnknownBackendError,
    create_backend,
    get_backend,
    list_backends,
    register_backend,
)
from looptool.agents.backends.specs import backend_tools, parse_docstring, type_to_schema
from looptool.agents.backends.toolbox import (
    SIMULATED,
    Toolbox,
    build_toolbox,
    executable_backend_for,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "REGISTRY",
    "SIMULATED",
    "BackendDefinitionError",
    "BackendRegistry",
    "ToolBackend",
    "ToolError",
    "ToolResult",
    "ToolRunner",
    "Toolbox",
    "UnknownBackendError",
    "backend_tools",
    "build_toolbox",
    "create_backend",
    "error_result",
    "executable_backend_for",
    "execute_tool_call",
    "get_backend",
    "list_backends",
    "not_a_tool",
    "parse_docstring",
    "register_backend",
    "type_to_schema",
]
