"""Running BFCL entries against scripted models: single turn, function-calling names,
multi-turn on the real backends, garbage, bad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from looptool.benchmarks.base import EndpointMode, EvalEntry, ModelReply, UnknownNameError
from looptool.benchmarks.bfcl import BfclV3
from looptool.benchmarks.bfcl.adapter import ground_truth_calls
from looptool.codecs import render_hermes, render_python
from looptool.schema import ToolCall
from tests.benchmarks.fakes import ScriptedBenchmarkModel


def _entry(entries: dict[str, list[EvalEntry]], entry_id: str) -> EvalEntry:
    category = entry_id.rsplit("_", 1)[0]
    return next(entry for entry in entries[category] if entry.id == entry_id)


def test_single_turn_prompt_modes_score_the_right_call(
    bfcl: BfclV3, bfcl_entries: dict[str, list[EvalEntry]]
) -> None:
    entry = _entry(bfcl_entries, "simple_1")  # math.factorial(number=5): a dotted name
    calls = ground_truth_calls(entry)
    hermes = ScriptedBenchmarkModel([render_hermes(calls)], mode=EndpointMode.PROMPT_HERMES)
    python = ScriptedBenchmarkModel([render_python(calls)], mode=EndpointMode.PROMPT_PYTHON)
    for model in (hermes, python):
        output = asyncio.run(bfcl.run_entry(entry, model))
        assert output.requests == 1 and output.replies[0].tool_calls[0].name == "math.factorial"
        assert bfcl.score(entry, output).score == 1.0
    system = hermes.requests[0][0]["content"]
    assert "<tools>" in system and "math.factorial" in system
    assert "[func_name1(params_name1=params_value1" in python.requests[0][0]["content"]


@pytest.mark.parametrize(
    ("style", "shown", "param_type"), [("bfcl_qwen", "math.factorial", "integer"), ("openai", "math_factorial", "integer")]
)
def test_function_calling_tools_follow_the_chosen_handler_and_calls_map_back(
    bfcl_entries: dict[str, list[EvalEntry]], style: str, shown: str, param_type: str
) -> None:
    """bfcl_qwen (default) offers BFCL's Gorilla docs with dotted names, as BFCL's Qwen FC
    handler; openai renames dots for strict OpenAI APIs. Both map calls back."""
    bench = BfclV3({"fc_tools": style})
    entry = _entry(bfcl_entries, "simple_1")
    seen: list[list[dict[str, Any]]] = []

    def reply(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> ModelReply:
        seen.append(tools or [])
        return ModelReply(tool_calls=[ToolCall(name=shown, arguments={"number": 5})])

    model = ScriptedBenchmarkModel(reply, mode=EndpointMode.FUNCTION_CALLING)
    output = asyncio.run(bench.run_entry(entry, model))
    function = seen[0][0]["function"]
    assert function["name"] == shown and function["parameters"]["properties"]["number"]["type"] == param_type
    if style == "bfcl_qwen":  # BFCL's language hint, Gorilla's "dict" type kept
        assert function["description"].endswith("Note that the provided function is in Python 3 syntax.")
        assert function["parameters"]["type"] == "dict"
    assert output.replies[0].tool_calls[0].name == "math.factorial"
    assert bench.score(entry, output).score == 1.0


def test_prompt_python_writes_bfcls_system_prompt_and_decodes_after_think(
    bfcl: BfclV3, bfcl_entries: dict[str, list[EvalEntry]]
) -> None:
    entry = _entry(bfcl_entries, "simple_1")
    model = ScriptedBenchmarkModel(
        ["<think>\nThe user wants 5!.\n</think>\n\n[math.factorial(number=5)]"], mode=EndpointMode.PROMPT_PYTHON
    )
    output = asyncio.run(bfcl.run_entry(entry, model))
    assert bfcl.score(entry, output).score == 1.0
    assert output.replies[0].text == "[math.factorial(number=5)]"
    system = model.requests[0][0]["content"]
    # BFCL formats the docs with str(): Python reprs, Gorilla types, the language hint
    assert "Here is a list of functions in JSON format that you can invoke.\n[{'name': 'math.factorial'" in system
    assert "'type': 'dict'" in system and system.endswith("}]\n\n")


def test_prompt_python_java_typed_literals_become_bfcls_strings(
    bfcl: BfclV3, bfcl_entries: dict[str, list[EvalEntry]]
) -> None:
    entry = bfcl_entries["java"][0]
    calls = ground_truth_calls(entry)
    text = "[" + ", ".join(
        f"{call.name}(" + ", ".join(f"{key}={value}" for key, value in call.arguments.items()) + ")" for call in calls
    ) + "]"
    model = ScriptedBenchmarkModel([f"<think>ok</think>{text}"], mode=EndpointMode.PROMPT_PYTHON)
    output = asyncio.run(bfcl.run_entry(entry, model))
    assert output.replies[0].tool_calls and output.replies[0].parse_error is None
    assert all(isinstance(value, str) for call in output.replies[0].tool_calls for value in call.arguments.values())
    assert bfcl.score(entry, output).score == 1.0


def _replay(truth: list[list[dict[str, Any]]]) -> Any:
    """A model that answers each user turn with its ground-truth calls, then with text."""
    state = {"turn": -1, "answered": False}

    def reply(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        users = sum(1 for message in messages if message["role"] == "user" and "<tool_response>" not in message["content"])
        if users - 1 != state["turn"]:
            state["turn"], state["answered"] = users - 1, False
        if state["answered"] or not truth[state["turn"]]:
            return "Done."
        state["answered"] = True
        return render_hermes([ToolCall(**call) for call in truth[state["turn"]]])

    return reply


@pytest.mark.parametrize("entry_id", ["multi_turn_base_0", "multi_turn_miss_func_0", "multi_turn_long_context_3"])
def test_multi_turn_replay_of_ground_truth_scores_and_backend_state_is_fresh(
    bfcl: BfclV3, bfcl_entries: dict[str, list[EvalEntry]], entry_id: str
) -> None:
    entry = _entry(bfcl_entries, entry_id)
    truth = entry.payload["ground_truth_calls"]

    async def twice() -> list[Any]:  # two concurrent runs of the same entry must not share state
        return list(await asyncio.gather(*(bfcl.run_entry(entry, ScriptedBenchmarkModel(_replay(truth))) for _ in range(2))))

    outputs = twice_outputs = asyncio.run(twice())
    for output in outputs:
        assert len(output.turns) == len(truth)
        executed = [reply for turn in output.turns for reply in turn.replies if reply.tool_calls]
        assert executed and all(len(reply.tool_results) == len(reply.tool_calls) for reply in executed)
        assert bfcl.score(entry, output).score == 1.0
    assert twice_outputs[0].turns[0].replies[0].tool_results == twice_outputs[1].turns[0].replies[0].tool_results
    # a rerun on the same worker starts from the initial state again
    again = asyncio.run(bfcl.run_entry(entry, ScriptedBenchmarkModel(_replay(truth))))
    assert again.turns[0].replies[0].tool_results == outputs[0].turns[0].replies[0].tool_results
    assert bfcl.score(entry, again).score == 1.0


def test_miss_func_turn_offers_the_held_out_functions(bfcl: BfclV3, bfcl_entries: dict[str, list[EvalEntry]]) -> None:
    entry = _entry(bfcl_entries, "multi_turn_miss_func_0")
    turn = next(iter(entry.payload["held_out_tools"]))
    name = entry.payload["held_out_tools"][turn][0]["name"]
    model = ScriptedBenchmarkModel(["Nothing to do."])
    asyncio.run(bfcl.run_entry(entry, model))
    assert name not in model.requests[0][0]["content"]
    later = [m["content"] for request in model.requests for m in request if m["role"] == "user"]
    assert any(name in content and "I have updated some more functions" in content for content in later)


def test_a_model_that_loops_forever_is_force_terminated(bfcl: BfclV3, bfcl_entries: dict[str, list[EvalEntry]]) -> None:
    entry = _entry(bfcl_entries, "multi_turn_base_0")
    looping = ScriptedBenchmarkModel([render_hermes([ToolCall(name="pwd", arguments={})])])
    bfcl.settings.max_steps = 3
    try:
        output = asyncio.run(bfcl.run_entry(entry, looping))
    finally:
        bfcl.settings.max_steps = BfclV3().settings.max_steps
    assert output.error and "force-terminated" in output.error
    assert len(output.turns) == 1 and output.requests == 4
    assert bfcl.score(entry, output).score == 0.0


@pytest.mark.parametrize("mode", list(EndpointMode))
@pytest.mark.parametrize("entry_id", ["simple_0", "live_relevance_0-0-0", "multi_turn_base_1"])
def test_garbage_is_scored_wrong_and_never_crashes(
    bfcl: BfclV3, bfcl_entries: dict[str, list[EvalEntry]], mode: EndpointMode, entry_id: str
) -> None:
    entry = _entry(bfcl_entries, entry_id)
    garbage = ["<tool_call>{\"name\": 3}</tool_call> [[[ ))) \x00", json.dumps({"no": "call"})]
    model = ScriptedBenchmarkModel(
        lambda messages, tools: ModelReply(raw=garbage[0], parse_error="bad_structure: garbage")
        if mode is EndpointMode.FUNCTION_CALLING
        else garbage[len(messages) % 2],
        mode=mode,
    )
    output = asyncio.run(bfcl.run_entry(entry, model))
    score = bfcl.score(entry, output)
    assert score.score == 0.0


def test_irrelevance_text_answer_is_right(bfcl: BfclV3, bfcl_entries: dict[str, list[EvalEntry]]) -> None:
    entry = bfcl_entries["irrelevance"][0]
    for mode in EndpointMode:
        model = ScriptedBenchmarkModel(["I cannot help with that using these functions."], mode=mode)
        output = asyncio.run(bfcl.run_entry(entry, model))
        assert bfcl.score(entry, output).score == 1.0


def test_unknown_category_suggests_the_closest(bfcl: BfclV3) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'multi_turn_base'"):
        bfcl.resolve_categories(["multi_turn_bse"])
    with pytest.raises(UnknownNameError, match="did you mean 'simple'"):
        bfcl.resolve_categories(["simpel"])
    assert bfcl.resolve_categories(["live", "simple"])[0] == "simple"
    assert bfcl.resolve_categories(["multi_turn"]) == [
        "multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context",
    ]


def test_missing_data_folder_is_named(tmp_path: Any) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        BfclV3({"data_dir": str(missing)}).load(["simple"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no BFCL_v3"):
        BfclV3({"data_dir": str(empty)}).load(["simple"])


def test_missing_bfcl_environment_names_the_setup_command(tmp_path: Any) -> None:
    with pytest.raises(FileNotFoundError, match="scripts/setup.sh bfcl"):
        BfclV3({"python": str(tmp_path / "python")}).load(["simple"])


@pytest.mark.parametrize(
    ("mode", "style", "docs_in_message", "tools_grow"),
    [
        (EndpointMode.PROMPT_PYTHON, "bfcl_qwen", True, False),
        (EndpointMode.FUNCTION_CALLING, "bfcl_qwen", True, False),  # BFCL's Qwen FC handler: prompting loop
        (EndpointMode.FUNCTION_CALLING, "openai", False, True),  # BFCL's API FC handlers: new tools
    ],
)
def test_miss_func_turn_follows_the_handler(
    bfcl_entries: dict[str, list[EvalEntry]], mode: EndpointMode, style: str, docs_in_message: bool, tools_grow: bool
) -> None:
    bench = BfclV3({"fc_tools": style})
    entry = _entry(bfcl_entries, "multi_turn_miss_func_0")
    turn = next(iter(entry.payload["held_out_docs"]))
    name = entry.payload["held_out_docs"][turn][0]["name"]
    seen: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []

    def reply(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        seen.append((messages, tools or []))
        return "Nothing to do."

    asyncio.run(bench.run_entry(entry, ScriptedBenchmarkModel(reply, mode=mode)))
    added = "I have updated some more functions you can choose from. What about now?"
    last_users = [next(m["content"] for m in reversed(messages) if m["role"] == "user") for messages, _ in seen]
    (at,) = [index for index, content in enumerate(last_users) if content.endswith(added)]
    assert at > 0  # the held-out turn comes after the first one
    # BFCL's prompting message: str() of the held-out docs, as they are
    assert (f"[{{'name': '{name}'" in last_users[at]) is docs_in_message
    tool_names = [[tool["function"]["name"] for tool in tools] for _, tools in seen]
    if mode is EndpointMode.FUNCTION_CALLING:
        assert (name in tool_names[at]) is tools_grow and name not in tool_names[0]


def test_multi_turn_prompt_python_replays_ground_truth_in_bfcls_conversation(
    bfcl: BfclV3, bfcl_entries: dict[str, list[EvalEntry]]
) -> None:
    entry = _entry(bfcl_entries, "multi_turn_base_0")
    truth = entry.payload["ground_truth_calls"]
    state = {"turn": -1, "answered": False}
    requests: list[list[dict[str, Any]]] = []

    def reply(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        requests.append(messages)
        users = sum(1 for m in messages if m["role"] == "user" and not m["content"].startswith("<tool_response>"))
        if users - 1 != state["turn"]:
            state["turn"], state["answered"] = users - 1, False
        if state["answered"] or not truth[state["turn"]]:
            return "<think>\ndone\n</think>\n\nAll done."
        state["answered"] = True
        return "<think>\nplan\n</think>\n\n" + render_python([ToolCall(**call) for call in truth[state["turn"]]])

    output = asyncio.run(bfcl.run_entry(entry, ScriptedBenchmarkModel(reply, mode=EndpointMode.PROMPT_PYTHON)))
    assert bfcl.score(entry, output).score == 1.0
    second = requests[1]  # after the first step: the reply's text, then all results in one user turn
    assert second[-2] == {"role": "assistant", "content": render_python([ToolCall(**c) for c in truth[0]])}
    results = second[-1]["content"]
    assert second[-1]["role"] == "user" and results.count("<tool_response>\n") == len(truth[0])
    assert "<think>" not in json.dumps(requests[-1])  # reasoning never goes back to the model
