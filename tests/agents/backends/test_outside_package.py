"""The README's outside backend package builds as shown, its entry point registers the
backend, and ``looptool tools call`` runs one of its tools without a model."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from looptool.agents import tools_cli
from looptool.agents.backends import REGISTRY

from .test_docs_example import EXAMPLE, ROOT, block

README = ROOT / "README.md"


def _layout() -> list[str]:
    """The files of the README's folder tree, as paths relative to the package folder."""
    paths: list[str] = []
    stack: list[str] = []
    for line in block("package-layout", README).splitlines()[1:]:
        depth = (len(line) - len(line.lstrip())) // 2 - 1
        name = line.strip()
        del stack[depth:]
        if name.endswith("/"):
            stack.append(name.rstrip("/"))
        else:
            paths.append("/".join([*stack, name]))
    return paths


@pytest.mark.timeout(180)
def test_the_readme_package_installs_and_its_tool_can_be_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = block("pyproject", README)
    project = tomllib.loads(pyproject)
    assert project["project"]["entry-points"] == tomllib.loads(block("entry-points", README))["project"]["entry-points"]
    assert _layout() == ["pyproject.toml", "my_tools/__init__.py", "my_tools/weather.py"]
    package = tmp_path / "my-tools"
    sources = {"pyproject.toml": pyproject, "my_tools/__init__.py": "",
               "my_tools/weather.py": EXAMPLE.read_text(encoding="utf-8")}
    for relative, text in sources.items():
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_text(text, encoding="utf-8")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
                    "--no-index", "--target", str(site), str(package)], check=True, capture_output=True)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.setattr(tools_cli, "REGISTRY", REGISTRY.copy())
    parser = argparse.ArgumentParser(prog="looptool")
    tools_cli.register(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(["tools", "call", "weather_station", "get_temperature",
                                  "--args", '{"city": "Paris", "unit": "fahrenheit"}'])
        assert args.handler(args) == 0
        assert json.loads(capsys.readouterr().out) == {"city": "Paris", "temperature": 64.4, "unit": "fahrenheit"}
        args = parser.parse_args(["tools", "call", "weather_station", "get_temperature", "--args", '{"city": "Lima"}'])
        assert args.handler(args) == 1
        assert json.loads(capsys.readouterr().out) == {"error": "unknown city 'Lima'; known: Paris, Oslo"}
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] == "my_tools"]:
            del sys.modules[name]
