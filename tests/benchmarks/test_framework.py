"""Pure parts of the framework: per-mode rendering/decoding, storage, BFCL aggregation, registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from looptool.benchmarks.base import (
    EndpointMode,
    EntryOutput,
    EntryScore,
    ModelEndpoint,
    ModelReply,
    TurnOutput,
    UnknownNameError,
    benchmark_names,
    get_benchmark_class,
)
from looptool.benchmarks.bfcl.categories import LIVE, MULTI_TURN, NON_LIVE, summarize_scores
from looptool.benchmarks.runner.chat import decode_reply, render_request
from looptool.benchmarks.runner.store import CellStore
from looptool.schema import Message, Role, ToolCall, ToolSpec

TOOLS = [ToolSpec(name="get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})]
HISTORY = [
    Message(role=Role.SYSTEM, content="Be brief."),
    Message(role=Role.USER, content="Weather in Paris?"),
    Message(role=Role.ASSISTANT, tool_calls=[ToolCall(name="get_weather", arguments={"city": "Paris"})]),
    Message(role=Role.TOOL, name="get_weather", content="sunny"),
]


def test_function_calling_request_is_native_openai() -> None:
    request = render_request(EndpointMode.FUNCTION_CALLING, HISTORY, TOOLS)
    assert request.tools == [TOOLS[0].to_openai()]
    assistant, tool = request.messages[2], request.messages[3]
    assert assistant["tool_calls"][0]["function"]["name"] == "get_weather"
    assert tool == {"role": "tool", "tool_call_id": assistant["tool_calls"][0]["id"], "content": "sunny", "name": "get_weather"}


@pytest.mark.parametrize(
    ("mode", "marker", "call_text"),
    [
        (EndpointMode.PROMPT_HERMES, "<tools>", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'),
        (EndpointMode.PROMPT_PYTHON, "[func_name1(", "[get_weather(city='Paris')]"),
    ],
)
def test_prompt_modes_put_tools_in_the_system_prompt(mode: EndpointMode, marker: str, call_text: str) -> None:
    request = render_request(mode, HISTORY, TOOLS)
    assert request.tools is None
    system = request.messages[0]
    assert system["role"] == "system" and marker in system["content"] and "Be brief." in system["content"]
    assert request.messages[2] == {"role": "assistant", "content": call_text}
    assert request.messages[3]["role"] == "user" and "<tool_response>" in request.messages[3]["content"]
    reply = decode_reply(mode, call_text)
    assert reply.decoded and reply.tool_calls == [ToolCall(name="get_weather", arguments={"city": "Paris"})]


@pytest.mark.parametrize("mode", list(EndpointMode))
@pytest.mark.parametrize("text", ["", "plain words", "<tool_call>{", "[f(1, 2)]", "get_weather(city=__import__('os'))"])
def test_garbage_decodes_to_no_call_without_raising(mode: EndpointMode, text: str) -> None:
    reply = decode_reply(mode, text, [{"function": {"name": None}}] if mode is EndpointMode.FUNCTION_CALLING else None)
    assert not reply.decoded and reply.tool_calls == []


def test_endpoint_validation_and_cell_name() -> None:
    endpoint = ModelEndpoint(label="Qwen3/8B@iter 2", base_url="http://h:1/v1/", mode="function_calling")
    assert endpoint.base_url == "http://h:1/v1" and endpoint.cell_name == "Qwen3_8B_iter_2__function_calling"
    with pytest.raises(ValueError, match="must start with http"):
        ModelEndpoint(base_url="localhost:8000")


def test_store_cuts_a_torn_tail_before_appending(tmp_path: Path) -> None:
    store = CellStore(tmp_path / "cell")
    first = EntryOutput(entry_id="a", category="c", turns=[TurnOutput(replies=[ModelReply(text="1")])])
    store.append(first)
    with store.outputs_file.open("a") as stream:
        stream.write('{"entry_id": "b", "categ')
    assert set(store.outputs()) == {"a"}
    store.append(EntryOutput(entry_id="b", category="c"))
    assert set(CellStore(tmp_path / "cell").outputs()) == {"a", "b"}
    assert store.outputs_file.read_text().count("\n") == 2


def _scores(category: str, right: int, total: int) -> list[EntryScore]:
    return [
        EntryScore(entry_id=f"{category}_{i}", category=category, score=1.0 if i < right else 0.0) for i in range(total)
    ]


def test_bfcl_overall_follows_the_leaderboard_formula() -> None:
    results = {name: (1, 2) for name in NON_LIVE} | {"java": (0, 4), "irrelevance": (3, 4)}
    results |= {name: (1, 1) for name in LIVE} | {"live_multiple": (0, 9)}
    results |= {name: (1, 4) for name in MULTI_TURN}
    scores = [score for name, (right, total) in results.items() for score in _scores(name, right, total)]
    summary = summarize_scores("bfcl_v3", scores)
    simple = (0.5 + 0.0 + 0.5) / 3
    non_live = (simple + 0.5 + 0.5 + 0.5 + 0.75) / 5
    live = 5 / 14  # entry-weighted: 5 right of 5 + 9 entries
    multi_turn = 0.25
    assert summary.row("non_live_simple").score == pytest.approx(simple)  # type: ignore[union-attr]
    assert summary.row("non_live").score == pytest.approx(non_live)  # type: ignore[union-attr]
    assert summary.row("live").score == pytest.approx(live)  # type: ignore[union-attr]
    assert summary.overall() == pytest.approx((non_live + live + multi_turn) / 3)
    # the leaderboard's (and the paper's) columns: Non-Live AST excludes irrelevance
    non_live_ast = (simple + 0.5 + 0.5 + 0.5) / 4
    assert summary.row("non_live_ast").score == pytest.approx(non_live_ast)  # type: ignore[union-attr]
    assert summary.row("relevance_detection").score == 1.0  # type: ignore[union-attr]
    irrelevance = (0.75 + 1.0) / 2  # unweighted: irrelevance 3/4, live_irrelevance 1/1
    assert summary.row("irrelevance_detection").score == pytest.approx(irrelevance)  # type: ignore[union-attr]
    assert summary.row("live_ast").score == pytest.approx(3 / 12)  # type: ignore[union-attr]
    headline = [(row.name, row.label) for row in summary.rows if row.headline]
    assert headline == [
        ("overall", "Overall Acc"), ("non_live_ast", "Non-Live AST Acc"), ("live", "Live Acc"),
        ("multi_turn", "Multi Turn Acc"), ("relevance_detection", "Relevance Detection"),
        ("irrelevance_detection", "Irrelevance Detection"),
    ]
    assert summary.row("non_live").label == "Non-Live Overall Acc"  # type: ignore[union-attr]


def test_partial_runs_report_no_overall() -> None:
    summary = summarize_scores("bfcl_v3", _scores("simple", 1, 2) + _scores("live_simple", 2, 2))
    assert summary.overall() is None and summary.row("live") is None
    assert summary.row("simple").score == 0.5  # type: ignore[union-attr]


def test_registry_lists_and_suggests() -> None:
    assert "bfcl_v3" in benchmark_names()
    assert get_benchmark_class("bfcl_v3").name == "bfcl_v3"
    with pytest.raises(UnknownNameError, match="did you mean 'bfcl_v3'"):
        get_benchmark_class("bfcl-v3")


@pytest.mark.parametrize(
    "recipe",
    sorted(str(path) for pattern in ("eval_*.yaml", "sweep_*.yaml") for path in Path("configs").glob(pattern)),
)
def test_shipped_recipes_validate_and_plan(recipe: str) -> None:
    import looptool.benchmarks.cli  # noqa: F401 - registers the eval section
    from looptool.benchmarks.runner.engine import plan_cells
    from looptool.benchmarks.runner.settings import EvalSettings
    from looptool.config import load_config

    text = Path(recipe).read_text()
    assert text.startswith("# Run with:") and recipe in text
    settings = load_config(recipe).section("eval", EvalSettings)
    assert settings.models or settings.checkpoints
    assert len(plan_cells(settings, settings.models)) == len(settings.models) * len(settings.benchmarks)


def test_api_key_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from looptool.benchmarks.base import EndpointError
    from looptool.benchmarks.runner.chat import OpenAIChatModel

    model = OpenAIChatModel(ModelEndpoint(api_key_env="LOOPTOOL_TEST_KEY"))
    monkeypatch.delenv("LOOPTOOL_TEST_KEY", raising=False)
    with pytest.raises(EndpointError, match="LOOPTOOL_TEST_KEY"):
        model.api_key()
    monkeypatch.setenv("LOOPTOOL_TEST_KEY", "secret")
    assert model.api_key() == "secret"


def test_reports_show_the_leaderboard_columns_per_model() -> None:
    from looptool.benchmarks.runner.report import CellReport, headline_tables

    results = {name: (1, 2) for name in [*NON_LIVE, *LIVE, *MULTI_TURN]}
    scores = [score for name, (right, total) in results.items() for score in _scores(name, right, total)]
    rows = summarize_scores("bfcl_v3", scores).rows
    report = CellReport(model="m", mode="prompt_python", benchmark="bfcl_v3", complete=True, entries=1,
                        outputs=1, failed=0, requests=1, wall_s=0.0, rows=rows, notes=["as BFCL's handler"])
    (table,) = headline_tables([report])
    assert table.caption == "prompt_python: as BFCL's handler"
    assert [column.header for column in table.columns] == [
        "model [mode]", "Overall Acc", "Non-Live AST Acc", "Live Acc", "Multi Turn Acc",
        "Relevance Detection", "Irrelevance Detection",
    ]
    assert list(table.columns[2].cells) == ["50.00"]


def test_a_checkpoint_runs_only_the_benchmarks_listed_for_a_mode() -> None:
    from pydantic import ValidationError

    from looptool.benchmarks.runner.settings import CheckpointSpec

    spec = CheckpointSpec(
        label="c", path="embedded", modes=["function_calling", "prompt_python"],
        mode_benchmarks={"function_calling": ["bfcl_v3"]},
    )
    assert spec.benchmarks_for(EndpointMode.FUNCTION_CALLING, ["bfcl_v3", "acebench"]) == ["bfcl_v3"]
    assert spec.benchmarks_for(EndpointMode.PROMPT_PYTHON, ["bfcl_v3", "acebench"]) == ["bfcl_v3", "acebench"]
    with pytest.raises(ValidationError, match="not in its modes"):
        CheckpointSpec(label="c", path="embedded", modes=["prompt_python"], mode_benchmarks={"function_calling": []})


def test_modes_say_what_they_follow_and_where_they_differ() -> None:
    from looptool.benchmarks.acebench import AceBench
    from looptool.benchmarks.bfcl import BfclV3

    assert "not a leaderboard configuration" in BfclV3().mode_notes(EndpointMode.PROMPT_HERMES)[0]
    assert "dotted names" in BfclV3().mode_notes(EndpointMode.FUNCTION_CALLING)[0]
    assert "not a BFCL Qwen handler" in BfclV3({"fc_tools": "openai"}).mode_notes(EndpointMode.FUNCTION_CALLING)[0]
    assert any("upstream has none" in note for note in AceBench().mode_notes(EndpointMode.FUNCTION_CALLING))
