"""README.md and docs/tools.md show a complete backend example; check it is the tested code
and works."""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from pathlib import Path

import pytest

from looptool.agents import tools_cli
from looptool.agents.backends import REGISTRY, create_backend
from looptool.schema import ToolCall

from .conftest import InstallOutside

ROOT = Path(__file__).resolve().parents[3]
DOCS = (ROOT / "docs" / "tools.md", ROOT / "README.md")
DOC = DOCS[0]
EXAMPLE = Path(__file__).with_name("example_weather.py")


def block(marker: str, doc: Path = DOC) -> str:
    text = doc.read_text(encoding="utf-8")
    found = re.search(rf"<!-- {marker}:begin -->\n```\w+\n(.*?)```\n<!-- {marker}:end -->", text, re.S)
    assert found, f"{doc.name} has no {marker} block"
    return found.group(1)


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_doc_shows_the_example_file_unchanged(doc: Path) -> None:
    assert block("example", doc).strip() == EXAMPLE.read_text(encoding="utf-8").strip()
    assert block("entry-points", doc) == block("entry-points")


def test_documented_entry_point_and_spec_command_work(
    install_outside_package: InstallOutside,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    entry_points = tomllib.loads(block("entry-points"))["project"]["entry-points"]["looptool.backends"]
    assert entry_points == {"weather_station": "my_tools.weather:WeatherStation"}
    install_outside_package(
        "my_tools",
        {"my_tools/__init__.py": "", "my_tools/weather.py": EXAMPLE.read_text(encoding="utf-8")},
        entry_points,
    )
    registry = REGISTRY.copy()
    monkeypatch.setattr(tools_cli, "REGISTRY", registry)
    parser = argparse.ArgumentParser(prog="looptool")
    tools_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tools", "spec", "weather_station"])
    assert args.handler(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [spec["name"] for spec in printed] == ["get_temperature", "set_temperature"]
    assert printed[0] == json.loads(block("spec"))
    assert registry.entry("weather_station").source == "entry point my_tools.weather:WeatherStation"
    station = create_backend("weather_station", registry=registry)
    hot = station.execute(ToolCall(name="get_temperature", arguments={"city": "Paris", "unit": "fahrenheit"}))
    assert json.loads(hot.content) == {"city": "Paris", "temperature": 64.4, "unit": "fahrenheit"}
    missing = station.execute(ToolCall(name="get_temperature", arguments={"city": "Lima"}))
    assert json.loads(missing.content) == {"error": "unknown city 'Lima'; known: Paris, Oslo"}
