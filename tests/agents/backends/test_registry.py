"""One registry: decorator registration, typo suggestions, entry-point discovery."""

from __future__ import annotations

import pytest

from looptool.agents.backends import (
    REGISTRY,
    BackendDefinitionError,
    ToolBackend,
    UnknownBackendError,
    create_backend,
    register_backend,
)
from looptool.errors import DuplicateNameError, UnknownNameError
from looptool.schema import ToolCall

from .conftest import InstallOutside

OUTSIDE_MODULE = '''
from looptool.agents.backends import ToolBackend, ToolError


class Greeter(ToolBackend):
    """Says hello."""

    def __init__(self) -> None:
        self.greeted: list[str] = []

    def greet(self, name: str) -> str:
        """Greet someone.

        Args:
            name: Who to greet.
        """
        if not name:
            raise ToolError("name is empty")
        self.greeted.append(name)
        return f"hello {name}"
'''


def test_builtin_backends_are_registered() -> None:
    assert {"calculator", "filesystem", "calendar"} <= set(REGISTRY.names())
    assert REGISTRY.entry("calculator").source == "builtin"
    assert REGISTRY.get("calculator").backend_name == "calculator"


def test_decorator_registers_and_rejects_name_clash() -> None:
    @register_backend("test_counter")
    class Counter(ToolBackend):
        """A counter."""

        def __init__(self) -> None:
            self.value = 0

        def increment(self, by: int = 1) -> int:
            """Add to the counter.

            Args:
                by: How much.
            """
            self.value += by
            return self.value

    try:
        backend = create_backend("test_counter", {"value": 41})
        assert backend.execute(ToolCall(name="increment", arguments={})).content == "42"
        assert backend.snapshot() == {"value": 42}
        with pytest.raises(ValueError, match="unknown scenario key"):
            create_backend("test_counter", {"valu": 1})

        class Other(ToolBackend):
            """Other."""

            def ping(self) -> str:
                """Ping."""
                return "pong"

        with pytest.raises(DuplicateNameError, match="'test_counter' is already registered"):
            register_backend("test_counter")(Other)
    finally:
        REGISTRY.unregister("test_counter")


def test_unknown_name_suggests_closest() -> None:
    with pytest.raises(UnknownBackendError, match="did you mean 'calculator'"):
        REGISTRY.get("calculater")
    with pytest.raises(UnknownBackendError, match="known: .*filesystem"):
        REGISTRY.get("zzzz")
    # one kernel error type for every registry, still a KeyError as before
    with pytest.raises(UnknownNameError):
        REGISTRY.get("zzzz")
    with pytest.raises(KeyError):
        REGISTRY.get("zzzz")


def test_non_backend_class_is_refused() -> None:
    with pytest.raises(BackendDefinitionError, match="not a subclass"):
        REGISTRY.copy().register("thing", dict)  # type: ignore[arg-type]
    with pytest.raises(BackendDefinitionError, match="letters, digits"):
        REGISTRY.copy().register("bad name!", ToolBackend)


def test_outside_backend_loads_through_entry_point(install_outside_package: InstallOutside) -> None:
    install_outside_package(
        "looptool_greeter",
        {"greeter_pkg/__init__.py": "", "greeter_pkg/tools.py": OUTSIDE_MODULE,
         "broken_pkg/__init__.py": "raise ImportError('missing dependency xyz')"},
        {"greeter": "greeter_pkg.tools:Greeter", "broken": "broken_pkg:Thing"},
    )
    registry = REGISTRY.copy()
    assert "greeter" in registry.names()
    info = registry.entry("greeter")
    assert info.source == "entry point greeter_pkg.tools:Greeter"
    assert [spec.name for spec in info.value.tool_specs()] == ["greet"]
    backend = create_backend("greeter", registry=registry)
    result = backend.execute(ToolCall(name="greet", arguments={"name": "Ada"}))
    assert result.ok and result.content == '"hello Ada"'
    assert backend.snapshot() == {"greeted": ["Ada"]}
    # a broken entry point is reported by name and does not stop the others
    assert "missing dependency xyz" in registry.failures()["broken"]
    with pytest.raises(UnknownBackendError, match="could not be loaded.*missing dependency xyz"):
        registry.get("broken")
    with pytest.raises(UnknownBackendError, match="entry point broken = broken_pkg:Thing"):
        registry.get("broken")
    assert "calculator" in registry.names()
