"""The one registry of tool backends: decorator registration plus entry-point discovery.

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

import difflib
import importlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar

from looptool.agents.backends.base import BackendDefinitionError, ToolBackend
from looptool.agents.backends.specs import backend_tools
from looptool.schema import ToolSpec

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "looptool.backends"

#: Modules of the backends that ship with LoopTool (imported on first lookup).
BUILTIN_MODULES: tuple[str, ...] = (
    "looptool.agents.backends.calculator",
    "looptool.agents.backends.filesystem",
    "looptool.agents.backends.calendar",
)

B = TypeVar("B", bound=type[ToolBackend])


class UnknownBackendError(KeyError):
    """No backend of that name; the message suggests the closest names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown backend"


@dataclass
class BackendInfo:
    """A registered backend: its class and where it came from."""

    name: str
    cls: type[ToolBackend]
    source: str  # "builtin", "decorator" or "entry point <value>"

    def tool_specs(self) -> list[ToolSpec]:
        return self.cls.tool_specs()


@dataclass
class BackendRegistry:
    """Name -> backend class. Use the module-level :data:`REGISTRY`."""

    builtin_modules: tuple[str, ...] = BUILTIN_MODULES
    group: str = ENTRY_POINT_GROUP
    _backends: dict[str, BackendInfo] = field(default_factory=dict)
    _failed: dict[str, str] = field(default_factory=dict)
    _loaded: bool = False

    def register(self, name: str, cls: type[ToolBackend], *, source: str = "decorator") -> None:
        """Register ``cls`` under ``name``; its tool specs are derived (and checked) now."""
        if not isinstance(cls, type) or not issubclass(cls, ToolBackend):
            raise BackendDefinitionError(
                f"backend {name!r}: {cls!r} is not a subclass of agents.backends.ToolBackend"
            )
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise BackendDefinitionError(
                f"backend name {name!r} must be letters, digits, '_' or '-'"
            )
        existing = self._backends.get(name)
        if existing is not None and existing.cls is not cls:
            if existing.cls.__qualname__ == cls.__qualname__ and existing.cls.__module__ == cls.__module__:
                log.debug("backend %r re-registered (module reloaded)", name)
            else:
                raise BackendDefinitionError(
                    f"backend name {name!r} is already taken by "
                    f"{existing.cls.__module__}.{existing.cls.__qualname__}"
                )
        backend_tools(cls)  # fail at registration, not at the first call
        cls.backend_name = name
        self._backends[name] = BackendInfo(name=name, cls=cls, source=source)
        self._failed.pop(name, None)

    def load(self) -> None:
        """Import the built-in backends and the entry points (once)."""
        if self._loaded:
            return
        self._loaded = True
        for module in self.builtin_modules:
            importlib.import_module(module)
        for record in list(_DECORATED):
            if record.name not in self._backends:
                self.register(record.name, record.cls, source=record.source)
        for entry in entry_points(group=self.group):
            self._load_entry_point(entry)

    def _load_entry_point(self, entry: EntryPoint) -> None:
        try:
            target: Any = entry.load()
        except Exception as error:
            reason = f"entry point {entry.value!r} failed to load: {type(error).__name__}: {error}"
            log.warning("backend %r: %s", entry.name, reason)
            self._failed[entry.name] = reason
            return
        if isinstance(target, type) and issubclass(target, ToolBackend):
            if entry.name in self._backends and self._backends[entry.name].cls is target:
                self._backends[entry.name].source = f"entry point {entry.value}"
                return
            try:
                self.register(entry.name, target, source=f"entry point {entry.value}")
            except BackendDefinitionError as error:
                log.warning("backend %r: %s", entry.name, error)
                self._failed[entry.name] = str(error)
        elif entry.name not in self._backends:
            reason = (
                f"entry point {entry.value!r} is neither a ToolBackend subclass nor a module "
                f"that registers a backend named {entry.name!r}"
            )
            log.warning("backend %r: %s", entry.name, reason)
            self._failed[entry.name] = reason

    def reload_entry_points(self) -> None:
        """Read the entry-point group again (after installing a package at run time)."""
        self.load()
        for entry in entry_points(group=self.group):
            self._load_entry_point(entry)

    def names(self) -> list[str]:
        self.load()
        return sorted(self._backends)

    def failures(self) -> dict[str, str]:
        """Entry points that could not be loaded, with the reason."""
        self.load()
        return dict(self._failed)

    def info(self, name: str) -> BackendInfo:
        self.load()
        found = self._backends.get(name)
        if found is not None:
            return found
        if name in self._failed:
            raise UnknownBackendError(f"backend {name!r} could not be loaded: {self._failed[name]}")
        close = difflib.get_close_matches(name, list(self._backends), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(item) for item in close)}?" if close else ""
        known = ", ".join(sorted(self._backends)) or "none"
        raise UnknownBackendError(f"unknown backend {name!r}{hint} (known: {known})")

    def get(self, name: str) -> type[ToolBackend]:
        """The backend class registered under ``name``."""
        return self.info(name).cls

    def create(self, name: str, scenario: dict[str, Any] | None = None) -> ToolBackend:
        """A fresh instance, with the scenario's initial state loaded when given."""
        backend = self.get(name)()
        if scenario:
            backend.load_scenario(scenario)
        return backend

    def backends(self) -> list[BackendInfo]:
        self.load()
        return [self._backends[name] for name in sorted(self._backends)]

    def tool_index(self) -> dict[str, list[str]]:
        """Tool name -> names of the backends that define a tool of that name."""
        index: dict[str, list[str]] = {}
        for info in self.backends():
            for spec in info.tool_specs():
                index.setdefault(spec.name, []).append(info.name)
        return index

    def unregister(self, name: str) -> None:
        """Remove a backend (tests); from the global registry also its decorator record."""
        removed = self._backends.pop(name, None)
        self._failed.pop(name, None)
        if self is REGISTRY and removed is not None:
            _DECORATED[:] = [item for item in _DECORATED if item.name != name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


REGISTRY = BackendRegistry()

#: Every decorator registration, so a fresh :class:`BackendRegistry` sees them too.
_DECORATED: list[BackendInfo] = []


def register_backend(name: str) -> Callable[[B], B]:
    """Class decorator: register a :class:`ToolBackend` subclass under ``name``."""

    def decorate(cls: B) -> B:
        source = "builtin" if cls.__module__ in BUILTIN_MODULES else "decorator"
        REGISTRY.register(name, cls, source=source)
        _DECORATED.append(BackendInfo(name=name, cls=cls, source=source))
        return cls

    return decorate


def get_backend(name: str) -> type[ToolBackend]:
    """The backend class named ``name`` (built-in, decorated, or from an entry point)."""
    return REGISTRY.get(name)


def create_backend(name: str, scenario: dict[str, Any] | None = None) -> ToolBackend:
    """A fresh instance of backend ``name`` with the scenario loaded."""
    return REGISTRY.create(name, scenario)


def list_backends() -> list[str]:
    return REGISTRY.names()
