"""The tool backend interface: a plain stateful class whose public methods are the tools.

A backend is written like BFCL's ``func_source_code`` classes::

    class TodoList(ToolBackend):
        '''A to-do list.'''

        def __init__(self) -> None:
            self.items: list[str] = []

        def add_item(self, text: str, priority: Literal["low", "high"] = "low") -> dict[str, int]:
            '''Add an item to the list.

            Args:
                text: What to do.
                priority: How urgent it is.
            '''
            if not text.strip():
                raise ToolError("text is empty")
            self.items.append(text)
            return {"index": len(self.items) - 1}

Rules (checked when the class is registered, so a mistake fails early and by name):

* Every public method (name not starting with ``_``) defined on the subclass is a tool, unless
  it is marked with :func:`not_a_tool`. The methods of :class:`ToolBackend` itself
  (``load_scenario``, ``snapshot``, ``tool_specs``, ``execute``, ...) are never tools.
* A tool's parameters are keyword parameters with type hints; ``*args``/``**kwargs`` are
  refused. The JSON Schema comes from the hints (``Literal`` -> ``enum``, ``list[...]``,
  ``dict[...]``, pydantic models and TypedDicts -> nested objects, a default -> not required).
* The docstring's first paragraph is the tool's description, its ``Args:`` section the
  parameter descriptions (Google style), the return annotation the ``returns`` schema.
* Errors the model should see are raised as :class:`ToolError`; the executor turns them into
  a tool message. Anything else raised is a bug in the backend; it is logged and still comes
  back as an error result, never as an exception to the caller.
* ``__init__`` takes no required arguments. State lives in public instance attributes by
  default: :meth:`ToolBackend.load_scenario` sets them from a dict (the initial state of a
  scenario) and :meth:`ToolBackend.snapshot` returns them as JSON-ready data for end-state
  comparison. Override both when the state needs another shape.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_jsonable_python

from looptool.schema import Message, Role, ToolCall, ToolSpec

F = TypeVar("F", bound=Callable[..., Any])

_NOT_A_TOOL_ATTR = "__looptool_not_a_tool__"


class ToolError(Exception):
    """An error the model should see, e.g. "file not found: notes.txt".

    The executor returns ``{"error": str(error)}`` as the tool's result; the dialogue goes on.
    """


class BackendDefinitionError(TypeError):
    """A backend class breaks the interface rules (missing type hint, ``*args``, ...)."""


class ToolResult(BaseModel):
    """The outcome of one tool call: JSON text for the model, and whether it failed."""

    model_config = ConfigDict(extra="forbid")

    name: str
    call_id: str | None = None
    ok: bool
    content: str
    error: str | None = None
    backend: str | None = None

    def to_message(self) -> Message:
        """The tool message the model sees next."""
        return Message(role=Role.TOOL, content=self.content, name=self.name,
                       tool_call_id=self.call_id)


def not_a_tool(method: F) -> F:
    """Mark a public method of a backend as a helper rather than a tool."""
    setattr(method, _NOT_A_TOOL_ATTR, True)
    return method


def is_marked_not_a_tool(method: object) -> bool:
    return bool(getattr(method, _NOT_A_TOOL_ATTR, False))


@runtime_checkable
class ToolRunner(Protocol):
    """Anything that can run tool calls: an executable backend, the LLM simulator, a toolbox."""

    def tool_specs(self) -> list[ToolSpec]: ...

    def execute(self, call: ToolCall) -> ToolResult: ...

    async def aexecute(self, call: ToolCall) -> ToolResult: ...

    def snapshot(self) -> dict[str, Any]: ...


class ToolBackend:
    """Base class of executable tool backends; see the module docstring for the rules."""

    #: The registry name, set by :func:`agents.backends.registry.register_backend`.
    backend_name: ClassVar[str | None] = None

    def load_scenario(self, scenario: dict[str, Any]) -> None:
        """Set the backend's state from a scenario's initial-state dict.

        The default sets public instance attributes of the same name; an unknown key is a
        ``ValueError`` naming the keys this backend knows.
        """
        known = self._state_fields()
        unknown = sorted(set(scenario) - set(known))
        if unknown:
            raise ValueError(
                f"backend {type(self).__name__}: unknown scenario key(s) {unknown}; "
                f"known: {sorted(known)}"
            )
        for key, value in scenario.items():
            setattr(self, key, copy.deepcopy(value))

    def snapshot(self) -> dict[str, Any]:
        """The backend's state as JSON-ready data (deep copy), for end-state comparison."""
        state = {key: getattr(self, key) for key in self._state_fields()}
        result: dict[str, Any] = to_jsonable_python(copy.deepcopy(state))
        return result

    def _state_fields(self) -> list[str]:
        return [key for key in vars(self) if not key.startswith("_")]

    @classmethod
    def tool_specs(cls) -> list[ToolSpec]:
        """The specs of this backend's tools, derived from the code (cached per class)."""
        from looptool.agents.backends.specs import backend_tools

        return [tool.spec for tool in backend_tools(cls).values()]

    def execute(self, call: ToolCall) -> ToolResult:
        """Run one call; never raises (errors come back as an error result)."""
        from looptool.agents.backends.executor import execute_tool_call

        return execute_tool_call(self, call)

    async def aexecute(self, call: ToolCall) -> ToolResult:
        """Async form of :meth:`execute` (executable backends run in-process)."""
        return self.execute(call)
