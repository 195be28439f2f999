"""The design card's top-level folders install only under the ``looptool`` name."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPED_FOLDERS = ("agents", "graphs", "training", "loop", "benchmarks")


def _declared_packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["setuptools"]["packages"])


def _packages_on_disk() -> set[str]:
    found = {"looptool"}
    for init in (ROOT / "looptool").rglob("__init__.py"):
        found.add(".".join(("looptool", *init.parent.relative_to(ROOT / "looptool").parts)).rstrip("."))
    for folder in MAPPED_FOLDERS:
        for init in (ROOT / folder).rglob("__init__.py"):
            found.add(".".join(("looptool", *init.parent.relative_to(ROOT).parts)))
    return {name for name in found if "__pycache__" not in name}


def test_every_package_folder_is_declared() -> None:
    assert set(_declared_packages()) == _packages_on_disk()


def test_mapped_folders_import_under_looptool_only() -> None:
    import importlib.util

    for folder in MAPPED_FOLDERS:
        spec = importlib.util.find_spec(f"looptool.{folder}")
        assert spec is not None and spec.origin is not None
        assert Path(spec.origin).parent == ROOT / folder


def test_python_dash_m_looptool_prints_the_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "looptool", "--version"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    from looptool import __version__

    assert __version__ in result.stdout


@pytest.mark.slow
def test_wheel_adds_no_top_level_name_but_looptool(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(tmp_path), str(ROOT)],
        check=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("looptool-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"looptool"}
    for folder in MAPPED_FOLDERS:
        assert f"looptool/{folder}/__init__.py" in names
    assert not any(name.startswith("looptool/perf/") or name.startswith("perf/") for name in names)
    assert "looptool/loop/seed/curated/episodes.yaml" in names  # package data: the curated episodes
