"""The contamination guard: training tools against the tool sets of the evaluated BFCL
multi-turn and ACEBench agent categories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from looptool.benchmarks.base import UnknownNameError
from looptool.loop.contamination import (
    BenchmarkTool,
    ContaminationCheckError,
    find_overlaps,
    normalize_name,
    overlap_message,
    tools_of,
)
from looptool.schema import ToolSpec

from .synthetic_run import WEATHER, sample

ADD_DESCRIPTION = "Add two numbers together and return their sum as a float."


def bfcl_data(root: Path) -> Path:
    """A BFCL data folder with two multi-turn doc files, written as bfcl_eval ships them."""
    docs = root / "bfcl" / "multi_turn_func_doc"
    docs.mkdir(parents=True)
    prefix = "This tool belongs to the Math API, which is used for math. Tool description: "
    (docs / "math_api.json").write_text(
        json.dumps({"name": "add", "description": prefix + ADD_DESCRIPTION}) + "\n"
        + json.dumps({"name": "mean", "description": prefix + "Mean of a list."}) + "\n"
    )
    (docs / "message_api.json").write_text(json.dumps({"name": "send_message", "description": "Send."}) + "\n")
    return root / "bfcl"


def bfcl_options(root: Path) -> dict[str, dict[str, str]]:
    return {"bfcl_v3": {"data_dir": str(bfcl_data(root))}}


def test_same_name_in_bfcl_multi_turn(tmp_path: Path) -> None:
    tools = [ToolSpec(name="add", description="Sum."), ToolSpec(name="MessageAPI.send_message"), WEATHER]
    overlaps = find_overlaps(tools, {"bfcl_v3": ["multi_turn_base", "multi_turn_miss_func"]},
                             benchmark_options=bfcl_options(tmp_path))
    assert [(item.tool, item.backend, item.benchmark_tool, item.why) for item in overlaps] == [
        ("add", "MathAPI", "add", "same name"),
        ("MessageAPI.send_message", "MessageAPI", "send_message", "same name as 'send_message'"),
    ]
    assert overlaps[0].benchmark == "bfcl_v3"
    assert overlaps[0].categories == ["multi_turn_base", "multi_turn_miss_func"]


def test_same_description_under_another_name(tmp_path: Path) -> None:
    renamed = ToolSpec(name="sum_numbers", description="Add two numbers together and return the sum as a float.")
    overlaps = find_overlaps([renamed], {"bfcl_v3": ["multi_turn"]}, benchmark_options=bfcl_options(tmp_path))
    assert len(overlaps) == 1 and overlaps[0].benchmark_tool == "add"
    assert overlaps[0].why.startswith("description") and overlaps[0].categories[-1] == "multi_turn_long_context"


def test_categories_without_backends_read_nothing(tmp_path: Path) -> None:
    missing = {"bfcl_v3": {"data_dir": str(tmp_path / "nowhere")}, "acebench": {"languages": ["en"]}}
    tools = [ToolSpec(name="add"), ToolSpec(name="turn_on_wifi")]
    assert find_overlaps(tools, {"bfcl_v3": ["simple", "live"], "acebench": ["normal"]},
                         benchmark_options=missing) == []
    with pytest.raises(ContaminationCheckError, match="nowhere"):
        find_overlaps(tools, {"bfcl_v3": ["multi_turn_base"]}, benchmark_options=missing)


def test_acebench_agent_tools_once_per_tool_with_every_language(tmp_path: Path) -> None:
    tools = [ToolSpec(name="Turn-On-Wifi"), ToolSpec(name="reserve_flight")]
    overlaps = find_overlaps(tools, {"acebench": ["agent_multi_step"]})
    assert [(item.tool, item.backend, item.benchmark_tool) for item in overlaps] == [
        ("Turn-On-Wifi", "BaseApi", "turn_on_wifi"),
        ("reserve_flight", "Travel", "reserve_flight"),
    ]
    assert overlaps[0].categories == ["en_agent_multi_step", "zh_agent_multi_step"]


def test_unknown_category_suggests_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'multi_turn_base'"):
        find_overlaps([ToolSpec(name="add")], {"bfcl_v3": ["multi_turn_bas"]})


def test_known_tools_and_message() -> None:
    known = [BenchmarkTool("bfcl_v3", "MathAPI", "add", "Add two numbers.", ("multi_turn_base",))]
    overlaps = find_overlaps(tools_of([sample("a"), sample("b")]) + [ToolSpec(name="ADD")], {}, known_tools=known)
    assert [item.tool for item in overlaps] == ["ADD"]
    message = overlap_message(overlaps, allow_hint="set loop.allow_contamination: true")
    assert "1 training tool(s)" in message and "ADD: bfcl_v3 MathAPI.add" in message
    assert message.endswith("or set loop.allow_contamination: true.")
    assert overlap_message([]) == "no training tool overlaps an evaluated benchmark"
    assert find_overlaps([], {"bfcl_v3": []}, known_tools=known) == []
    assert normalize_name(" Send-Message ") == "send_message"
    assert len(tools_of([sample("a"), sample("b")])) == 1


def test_real_bfcl_environment() -> None:
    from looptool.benchmarks.bfcl.worker_client import find_bfcl_python

    try:
        find_bfcl_python()
    except FileNotFoundError:
        pytest.skip("BFCL environment not built (scripts/setup.sh bfcl)")
    overlaps = find_overlaps([ToolSpec(name="ls"), ToolSpec(name="post_tweet")], {"bfcl_v3": ["multi_turn_base"]})
    assert {(item.backend, item.benchmark_tool) for item in overlaps} == {
        ("GorillaFileSystem", "ls"), ("TwitterAPI", "post_tweet")
    }
