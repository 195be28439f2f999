"""Fixtures for the backend tests: an outside package installed into a temp folder."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

InstallOutside = Callable[[str, dict[str, str], dict[str, str]], Path]


@pytest.fixture
def install_outside_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InstallOutside]:
    """Write a package and its ``*.dist-info`` (with ``entry_points.txt``) into a temp folder
    on ``sys.path``, so ``importlib.metadata.entry_points`` really finds it."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    installed: list[str] = []

    def install(dist_name: str, modules: dict[str, str], entry_points: dict[str, str]) -> Path:
        for relative, source in modules.items():
            target = site / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source, encoding="utf-8")
            top = relative.split("/")[0].removesuffix(".py")
            installed.append(top)
        info = site / f"{dist_name}-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.1.0\n", encoding="utf-8"
        )
        lines = ["[looptool.backends]", *(f"{name} = {value}" for name, value in entry_points.items())]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        importlib.invalidate_caches()
        return site

    yield install
    for name in list(sys.modules):
        if name.split(".")[0] in installed:
            del sys.modules[name]
