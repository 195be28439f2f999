"""One registry type for every extension point (tool backends, rewards, benchmarks, config
sections, and next the loop's stages and judges).

A :class:`Registry` maps names to objects of one kind::

    REWARDS: Registry[RewardFunc] = Registry("reward", entry_point_group="looptool.rewards")

    @REWARDS.register("tool_match")          # by decorator ...
    def tool_match(completions, **columns): ...

    REWARDS.register("other", other_reward)  # ... or by call
    REWARDS.get("tool_mach")                 # UnknownNameError: unknown reward 'tool_mach';
                                             # did you mean 'tool_match'? (known: ...)

* A name is registered once; a different object under a taken name raises
  :class:`~looptool.errors.DuplicateNameError` (the same class again, e.g. after a module
  reload, replaces the old one).
* ``builtin_modules`` are imported on the first look-up, so the objects shipped with
  LoopTool are there without anyone importing their modules first.
* Outside packages add objects through the Python entry-point group
  ``entry_point_group``, read once, on the first look-up. The entry point's name is the
  registry name; its target is the object itself (``package.module:Object``) or a module
  whose import registers the name. One that fails to load (import error, a refused object,
  a name clash) is logged, does not stop the others, and a look-up of its name raises an
  error naming the entry point and the reason.
* ``check(name, value)`` lets an extension point refuse (raise) or adapt an object when it
  is registered, e.g. derive a backend's tool specs so a broken backend fails at once.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any, Generic, TypeVar, overload

from looptool.errors import DuplicateNameError, UnknownNameError, unknown_name_message

log = logging.getLogger(__name__)

T = TypeVar("T")

BUILTIN = "builtin"
CODE = "code"
ENTRY_POINT_PREFIX = "entry point "


@dataclass(frozen=True)
class Registered(Generic[T]):
    """One registry entry: the name, the object, and where it came from."""

    name: str
    value: T
    source: str  # "builtin", "code", or "entry point <module:attr>"

    @property
    def from_entry_point(self) -> bool:
        return self.source.startswith(ENTRY_POINT_PREFIX)


class _Missing:
    """Marks ``register(name)`` called without a value (decorator use)."""


_MISSING = _Missing()


class Registry(Generic[T]):
    """Name -> object of one kind, with lazy built-ins, entry points and typo suggestions.

    Args:
        kind: what the registry holds, in error messages ("backend", "reward", ...).
        builtin_modules: modules imported on the first look-up; their registrations count
            as ``builtin``.
        entry_point_group: the ``importlib.metadata`` entry-point group outside packages use
            (None: no entry points).
        check: called as ``check(name, value)`` on registration; returns the value to store
            (usually ``value`` itself) or raises to refuse it.
        unknown_error: the :class:`UnknownNameError` subclass a failed look-up raises.
    """

    def __init__(
        self,
        kind: str,
        *,
        builtin_modules: Sequence[str] = (),
        entry_point_group: str | None = None,
        check: Callable[[str, T], T] | None = None,
        unknown_error: type[UnknownNameError] = UnknownNameError,
    ) -> None:
        self.kind = kind
        self.builtin_modules = tuple(builtin_modules)
        self.entry_point_group = entry_point_group
        self.check = check
        self.unknown_error = unknown_error
        self._entries: dict[str, Registered[T]] = {}
        self._failed: dict[str, str] = {}
        self._builtins_loaded = False
        self._entry_points_loaded = False
        self._loading = False
        self._lock = threading.RLock()
        self._origin: Registry[T] | None = None

    # -- registration

    @overload
    def register(self, name: str, *, source: str | None = None) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, value: T, *, source: str | None = None) -> T: ...

    def register(self, name: str, value: Any = _MISSING, *, source: str | None = None) -> Any:
        """Register ``value`` under ``name``; without ``value``, a decorator that does."""
        if isinstance(value, _Missing):

            def decorate(item: T) -> T:
                return self._add(name, item, source)

            return decorate
        return self._add(name, value, source)

    def _add(self, name: str, value: T, source: str | None) -> T:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        existing = self._entries.get(name)
        if existing is not None and existing.value is value:
            return value
        if existing is not None and not _same_definition(existing.value, value):
            raise DuplicateNameError(
                f"{self.kind} {name!r} is already registered by {_describe(existing.value)} "
                f"({existing.source}); {_describe(value)} cannot take the name"
            )
        if existing is not None:
            log.debug("%s %r re-registered (module reloaded)", self.kind, name)
        stored = self.check(name, value) if self.check is not None else value
        self._entries[name] = Registered(name=name, value=stored, source=source or self._source_of(value))
        self._failed.pop(name, None)
        return stored

    def _source_of(self, value: object) -> str:
        return BUILTIN if getattr(value, "__module__", None) in self.builtin_modules else CODE

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests; a missing name is ignored)."""
        self._entries.pop(name, None)
        self._failed.pop(name, None)

    # -- loading

    def load(self) -> None:
        """Import the built-in modules and read the entry points, once (every look-up
        calls this; call it directly only to load eagerly)."""
        if self._builtins_loaded and self._entry_points_loaded:
            return
        with self._lock:
            if self._loading:  # a module imported below looks names up while registering
                return
            self._loading = True
            try:
                if not self._builtins_loaded:
                    self._import_builtins()
                    self._builtins_loaded = True
                if not self._entry_points_loaded:
                    self._entry_points_loaded = True
                    self._load_entry_points()
            finally:
                self._loading = False

    def _import_builtins(self) -> None:
        for module_name in self.builtin_modules:
            try:
                importlib.import_module(module_name)
            except ModuleNotFoundError as error:
                if error.name is None or not _is_package_of(error.name, module_name):
                    raise  # the module is there but one of its own imports is missing
                log.debug("built-in %s module %s is not present", self.kind, module_name)

    def _load_entry_points(self) -> None:
        if self.entry_point_group is None:
            return
        for entry in entry_points(group=self.entry_point_group):
            self._load_entry_point(entry)

    def _load_entry_point(self, entry: EntryPoint) -> None:
        source = f"{ENTRY_POINT_PREFIX}{entry.value}"
        where = f"entry point {entry.name} = {entry.value} (group {self.entry_point_group})"
        try:
            target: Any = entry.load()
        except Exception as error:  # a broken plug-in must not break the others
            self._fail(entry.name, f"{where} failed to load: {type(error).__name__}: {error}")
            return
        existing = self._entries.get(entry.name)
        if isinstance(target, ModuleType):
            if existing is None and self._origin is not None:
                existing = self._origin._entries.get(entry.name)  # decorated into the original
            if existing is None:
                self._fail(
                    entry.name,
                    f"{where}: importing module {target.__name__} registers no {self.kind} "
                    f"named {entry.name!r}",
                )
                return
            self._entries[entry.name] = replace(existing, source=source)
            return
        if existing is not None and existing.value is target:
            self._entries[entry.name] = replace(existing, source=source)
            return
        try:
            self._add(entry.name, target, source)
        except Exception as error:  # refused by check(), or the name is taken
            self._fail(entry.name, f"{where} was refused: {error}")

    def _fail(self, name: str, reason: str) -> None:
        log.warning("%s %r: %s", self.kind, name, reason)
        self._failed[name] = reason

    def copy(self) -> Registry[T]:
        """A new registry with the same settings and the registrations made in code so far;
        it reads the entry points afresh on its first look-up (tests, or after installing a
        package at run time)."""
        with self._lock:
            if not self._builtins_loaded:
                self._import_builtins()
                self._builtins_loaded = True
        clone: Registry[T] = Registry(
            self.kind,
            builtin_modules=self.builtin_modules,
            entry_point_group=self.entry_point_group,
            check=self.check,
            unknown_error=self.unknown_error,
        )
        clone._entries = {name: item for name, item in self._entries.items() if not item.from_entry_point}
        clone._builtins_loaded = True
        clone._origin = self
        return clone

    # -- look-up

    def entry(self, name: str) -> Registered[T]:
        """The entry of ``name``; an unknown name raises ``unknown_error`` with the closest
        known names, a broken entry point raises it with the entry point and the reason."""
        self.load()
        found = self._entries.get(name)
        if found is not None:
            return found
        if name in self._failed:
            raise self.unknown_error(f"{self.kind} {name!r} could not be loaded: {self._failed[name]}")
        raise self.unknown_error(unknown_name_message(name, self._entries, self.kind))

    def get(self, name: str) -> T:
        """The object registered under ``name`` (see :meth:`entry` for errors)."""
        return self.entry(name).value

    def names(self) -> list[str]:
        self.load()
        return sorted(self._entries)

    def entries(self) -> list[Registered[T]]:
        """Every entry, by name."""
        self.load()
        return [self._entries[name] for name in sorted(self._entries)]

    def values(self) -> list[T]:
        return [item.value for item in self.entries()]

    def failures(self) -> dict[str, str]:
        """Entry points that could not be loaded: name -> reason."""
        self.load()
        return dict(self._failed)

    def __contains__(self, name: object) -> bool:
        self.load()
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} registered)"


def _is_package_of(missing: str, module_name: str) -> bool:
    """True when ``missing`` is ``module_name`` itself or one of its parent packages."""
    return module_name == missing or module_name.startswith(f"{missing}.")


def _same_definition(old: object, new: object) -> bool:
    """True for the same class/function defined again (its module was reloaded)."""
    qualname = getattr(new, "__qualname__", None)
    return (
        qualname is not None
        and "<lambda>" not in qualname
        and qualname == getattr(old, "__qualname__", None)
        and getattr(new, "__module__", None) == getattr(old, "__module__", None)
    )


def _describe(value: object) -> str:
    qualname = getattr(value, "__qualname__", None)
    if qualname is None:
        return repr(value)
    return f"{getattr(value, '__module__', '?')}.{qualname}"
