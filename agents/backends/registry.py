"""The tool-backend registry: a :class:`looptool.registry.Registry` of backend classes.

In this code base::

    @register_backend("calculator")
    class Calculator(ToolBackend): ...

In an outside package, declare the class under the entry-point group ``looptool.backends``
(``pyproject.toml``)::

    [project.entry-points."looptool.backends"]
    weather = "my_package.weather:WeatherBackend"

The entry point's name is the backend's name. Its target may be the class itself or a module
whose import registers backends with the decorator. Entry points are read once, on first
lookup; one that fails to load is logged and reported by name when asked for, and does not
stop the others. A typo gets the closest names suggested.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from looptool.agents.backends.base import BackendDefinitionError, ToolBackend
from looptool.agents.backends.specs import backend_tools
from looptool.errors import UnknownNameError
from looptool.registry import Registry

ENTRY_POINT_GROUP = "looptool.backends"

#: Modules of the backends that ship with LoopTool (imported on first lookup).
BUILTIN_MODULES: tuple[str, ...] = (
    "looptool.agents.backends.calculator",
    "looptool.agents.backends.filesystem",
    "looptool.agents.backends.calendar",
)

B = TypeVar("B", bound=type[ToolBackend])

BackendRegistry = Registry[type[ToolBackend]]


class UnknownBackendError(UnknownNameError, KeyError):
    """No backend of that name (or its entry point failed); the message suggests the
    closest names or names the broken entry point."""


def check_backend(name: str, cls: type[ToolBackend]) -> type[ToolBackend]:
    """Refuse a class that is not a valid :class:`ToolBackend`; derive (and so check) its
    tool specs now rather than at the first call."""
    if not isinstance(cls, type) or not issubclass(cls, ToolBackend):
        raise BackendDefinitionError(
            f"backend {name!r}: {cls!r} is not a subclass of agents.backends.ToolBackend"
        )
    if not name.replace("_", "").replace("-", "").isalnum():
        raise BackendDefinitionError(f"backend name {name!r} must be letters, digits, '_' or '-'")
    backend_tools(cls)
    cls.backend_name = name
    return cls


REGISTRY: BackendRegistry = Registry(
    "backend",
    builtin_modules=BUILTIN_MODULES,
    entry_point_group=ENTRY_POINT_GROUP,
    check=check_backend,
    unknown_error=UnknownBackendError,
)


def register_backend(name: str) -> Callable[[B], B]:
    """Class decorator: register a :class:`ToolBackend` subclass under ``name``."""

    def decorate(cls: B) -> B:
        REGISTRY.register(name, cls)
        return cls

    return decorate


def get_backend(name: str, registry: BackendRegistry = REGISTRY) -> type[ToolBackend]:
    """The backend class named ``name`` (built-in, decorated, or from an entry point)."""
    return registry.get(name)


def create_backend(
    name: str, scenario: dict[str, Any] | None = None, registry: BackendRegistry = REGISTRY
) -> ToolBackend:
    """A fresh instance of backend ``name``, with the scenario's initial state loaded."""
    backend = registry.get(name)()
    if scenario:
        backend.load_scenario(scenario)
    return backend


def list_backends(registry: BackendRegistry = REGISTRY) -> list[str]:
    return registry.names()
