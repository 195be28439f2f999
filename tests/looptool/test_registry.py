"""The generic registry: registration, typo suggestions, lazy built-ins, entry points."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from looptool.errors import DuplicateNameError, UnknownNameError, UserError
from looptool.registry import Registry

GROUP = "looptool.test_widgets"

InstallDistribution = Callable[[str, dict[str, str], dict[str, str]], None]


class Widget:
    """What the test registries hold."""

    def __init__(self, size: int = 1) -> None:
        self.size = size


class UnknownWidgetError(UnknownNameError, KeyError):
    """An area's own error type, as backends and rewards have."""


def widget_check(name: str, value: object) -> object:
    if not hasattr(value, "size"):
        raise TypeError(f"widget {name!r}: {value!r} is not a Widget")
    return value


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temp folder on ``sys.path``; modules imported from it are forgotten afterwards."""
    folder = tmp_path / "site-packages"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        if getattr(sys.modules[name], "__file__", "") and str(folder) in str(sys.modules[name].__file__):
            del sys.modules[name]


@pytest.fixture
def install_distribution(site: Path) -> InstallDistribution:
    """Write modules and a ``*.dist-info`` with ``entry_points.txt`` (group ``GROUP``), so
    ``importlib.metadata.entry_points`` really finds them."""

    def install(dist_name: str, modules: dict[str, str], points: dict[str, str]) -> None:
        for relative, source in modules.items():
            (site / relative).write_text(source, encoding="utf-8")
        info = site / f"{dist_name}-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.1.0\n", encoding="utf-8"
        )
        lines = [f"[{GROUP}]", *(f"{name} = {value}" for name, value in points.items())]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        importlib.invalidate_caches()

    return install


def test_register_by_decorator_and_by_call() -> None:
    widgets: Registry[Widget] = Registry("widget")

    @widgets.register("decorated")
    def _unused() -> None: ...

    small = widgets.register("small", Widget(1))
    assert widgets.get("small") is small
    assert widgets.names() == ["decorated", "small"]
    assert "small" in widgets and "large" not in widgets and len(widgets) == 2
    assert list(widgets) == ["decorated", "small"]
    assert widgets.entry("small").source == "code"
    assert [item.name for item in widgets.entries()] == ["decorated", "small"]
    widgets.unregister("small")
    assert widgets.names() == ["decorated"]


def test_duplicate_name_is_refused_naming_the_holder() -> None:
    widgets: Registry[Widget] = Registry("widget")
    first = widgets.register("gear", Widget(1))
    assert widgets.register("gear", first) is first  # the same object again is fine
    with pytest.raises(DuplicateNameError, match="widget 'gear' is already registered by"):
        widgets.register("gear", Widget(2))
    with pytest.raises(ValueError, match="non-empty"):
        widgets.register("", Widget(3))
    assert widgets.get("gear") is first


def test_unknown_name_suggests_the_closest_and_lists_the_known() -> None:
    widgets: Registry[Widget] = Registry("widget", unknown_error=UnknownWidgetError)
    for name in ("sprocket", "spring", "gear"):
        widgets.register(name, Widget())
    with pytest.raises(UnknownWidgetError, match=r"unknown widget 'sprokcet'; did you mean 'sprocket'\?"):
        widgets.get("sprokcet")
    with pytest.raises(UnknownNameError, match=r"unknown widget 'zzz' \(known: gear, spring, sprocket\)"):
        widgets.get("zzz")
    with pytest.raises(KeyError):  # the area's type keeps its old meaning ...
        widgets.get("zzz")
    with pytest.raises(UserError):  # ... and the CLI treats it as the user's to fix
        widgets.get("zzz")
    try:
        widgets.get("zzz")
    except KeyError as error:
        assert str(error).startswith("unknown widget")  # not quoted like a plain KeyError


def test_check_refuses_or_adapts_on_registration() -> None:
    def double(name: str, value: Widget) -> Widget:
        if value.size < 0:
            raise ValueError(f"{name}: negative size")
        return Widget(value.size * 2)

    widgets: Registry[Widget] = Registry("widget", check=double)
    assert widgets.register("big", Widget(3)).size == 6
    assert widgets.get("big").size == 6
    with pytest.raises(ValueError, match="negative size"):
        widgets.register("bad", Widget(-1))
    assert "bad" not in widgets


def test_builtin_modules_are_imported_on_first_lookup(site: Path) -> None:
    (site / "widget_home.py").write_text(
        "from looptool.registry import Registry\n"
        "WIDGETS = Registry('widget', builtin_modules=('widget_builtins', 'widget_absent', 'absent_pkg.mod'))\n",
        encoding="utf-8",
    )
    (site / "widget_builtins.py").write_text(
        "from widget_home import WIDGETS\n"
        "class Gear:\n"
        "    pass\n"
        "WIDGETS.register('gear', Gear)\n",
        encoding="utf-8",
    )
    importlib.invalidate_caches()
    home = importlib.import_module("widget_home")
    assert "widget_builtins" not in sys.modules
    assert home.WIDGETS.names() == ["gear"]  # a missing built-in module (or package) is skipped
    assert "widget_builtins" in sys.modules
    assert home.WIDGETS.entry("gear").source == "builtin"


def test_a_builtin_module_with_a_missing_import_fails_loudly(site: Path) -> None:
    (site / "widget_needy.py").write_text("import no_such_dependency_xyz\n", encoding="utf-8")
    importlib.invalidate_caches()
    widgets: Registry[object] = Registry("widget", builtin_modules=("widget_needy",))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        widgets.names()


def test_entry_points_load_once_and_broken_ones_are_named(
    install_distribution: InstallDistribution,
) -> None:
    install_distribution(
        "widget_pack",
        {
            "widget_pack.py": (
                "class Large:\n"
                "    size = 10\n"
                "LARGE = Large()\n"
                "NOT_A_WIDGET = 'text'\n"
            ),
            "widget_broken.py": "raise ImportError('missing dependency xyz')\n",
        },
        {
            "large": "widget_pack:LARGE",
            "broken": "widget_broken:Thing",
            "refused": "widget_pack:NOT_A_WIDGET",
            "taken": "widget_pack:LARGE",
        },
    )
    widgets: Registry[object] = Registry(
        "widget", entry_point_group=GROUP, check=widget_check, unknown_error=UnknownWidgetError
    )
    widgets.register("taken", Widget(1))
    assert widgets.names() == ["large", "taken"]  # the others failed, the rest still loaded
    assert widgets.entry("large").source == "entry point widget_pack:LARGE"
    assert widgets.get("taken").size == 1  # type: ignore[attr-defined]
    failures = widgets.failures()
    assert set(failures) == {"broken", "refused", "taken"}
    with pytest.raises(
        UnknownWidgetError,
        match=r"widget 'broken' could not be loaded: entry point broken = widget_broken:Thing "
        rf"\(group {GROUP}\) failed to load: ImportError: missing dependency xyz",
    ):
        widgets.get("broken")
    with pytest.raises(UnknownWidgetError, match="refused: widget 'refused'.*is not a Widget"):
        widgets.get("refused")
    assert "already registered" in failures["taken"]

    # read once: a distribution installed later is seen by a copy, not by the loaded registry
    install_distribution(
        "widget_late", {"widget_late.py": "class Tiny:\n    size = 0\nTINY = Tiny()\n"}, {"tiny": "widget_late:TINY"}
    )
    assert "tiny" not in widgets
    fresh = widgets.copy()
    assert fresh.names() == ["large", "taken", "tiny"]
    assert fresh.entry("taken").source == "code"


def test_module_entry_point_registers_by_import(install_distribution: InstallDistribution) -> None:
    install_distribution(
        "widget_plugin",
        {
            "widget_holder.py": (
                "from looptool.registry import Registry\n"
                f"WIDGETS = Registry('widget', entry_point_group={GROUP!r})\n"
            ),
            "widget_plugin.py": "from widget_holder import WIDGETS\nWIDGETS.register('plugged', 'a widget')\n",
            "widget_empty.py": "",
        },
        {"plugged": "widget_plugin", "ghost": "widget_empty"},
    )
    widgets = importlib.import_module("widget_holder").WIDGETS
    assert widgets.get("plugged") == "a widget"
    assert widgets.entry("plugged").source == "entry point widget_plugin"
    with pytest.raises(UnknownNameError, match="registers no widget named 'ghost'"):
        widgets.get("ghost")
