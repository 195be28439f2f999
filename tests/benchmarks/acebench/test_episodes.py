"""Running entries with scripted models (prompt and function-calling modes), agent episodes
with a scripted simulated user, and scoring what they stored."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from looptool.benchmarks.acebench import AceBench
from looptool.benchmarks.acebench.gold import gold_text
from looptool.benchmarks.base import EndpointMode, EntryOutput, EvalEntry, ModelReply
from looptool.codecs import parse_python
from tests.benchmarks.fakes import ScriptedBenchmarkModel
from tests.fake_models import ScriptedChatModel


def _entry(bench: AceBench, category: str, index: int = 0) -> EvalEntry:
    return bench.load([category], limit=index + 1)[index]


def _run(bench: AceBench, entry: EvalEntry, model: Any) -> EntryOutput:
    output = asyncio.run(bench.run_entry(entry, model))
    # what the runner stores must round-trip through JSON and score the same afterwards
    return EntryOutput.model_validate(json.loads(output.model_dump_json()))


def test_normal_entry_prompt_mode_gold_and_garbage(bench: AceBench) -> None:
    entry = _entry(bench, "en_normal_atom_bool")
    turn = bench.item_of(entry).turns[0]
    gold = gold_text("normal_atom_bool", turn.record.function, turn.answer, exact_names=True)
    model = ScriptedBenchmarkModel([f"Sure! {gold}"], mode=EndpointMode.PROMPT_PYTHON)
    output = _run(bench, entry, model)
    assert output.requests == 1
    system, user = model.requests[0]
    assert system["role"] == "system" and "[ApiName(key1='value1'" in system["content"]
    assert "'ProteinRichMealPlanner_generateList'" in system["content"]  # Python str() of functions
    assert user["content"].startswith("Conversation history 1..t:\nuser: ")
    score = bench.score(entry, output)
    assert score.variant_scores == {"upstream": 1.0, "strict": 1.0} and score.score == 1.0

    garbage = _run(bench, entry, ScriptedBenchmarkModel(["<<<not a call>>> ]]"], mode=EndpointMode.PROMPT_PYTHON))
    bad = bench.score(entry, garbage)
    assert bad.score == 0.0 and not bad.valid and bad.details["upstream_errors"]


def test_request_error_scores_wrong(bench: AceBench) -> None:
    entry = _entry(bench, "zh_normal_similar_api")
    model = ScriptedBenchmarkModel([ModelReply(error="HTTP 400: prompt too long")], mode=EndpointMode.PROMPT_PYTHON)
    score = bench.score(entry, _run(bench, entry, model))
    assert score.score == 0.0 and not score.valid


def test_function_calling_mode_uses_tool_calls(bench: AceBench) -> None:
    entry = _entry(bench, "en_normal_single_turn_parallel_function", 1)
    turn = bench.item_of(entry).turns[0]
    calls = parse_python(gold_text("normal_single_turn_parallel_function", turn.record.function, turn.answer, exact_names=True)).calls
    seen_tools: list[Any] = []

    def respond(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> ModelReply:
        seen_tools.append(tools)
        return ModelReply(tool_calls=calls)

    output = _run(bench, entry, ScriptedBenchmarkModel(respond, mode=EndpointMode.FUNCTION_CALLING))
    assert output.extra["function_calling"] is True
    assert seen_tools[0] and all(tool["function"]["parameters"]["type"] == "object" for tool in seen_tools[0])
    assert bench.score(entry, output).variant_scores == {"upstream": 1.0, "strict": 1.0}
    wrong = [calls[0].model_copy(update={"arguments": {}})]
    output = _run(bench, entry, ScriptedBenchmarkModel([ModelReply(tool_calls=wrong)], mode=EndpointMode.FUNCTION_CALLING))
    assert bench.score(entry, output).variant_scores == {"upstream": 0.0, "strict": 0.0}


def test_multi_turn_conversation_one_request_per_turn(bench: AceBench) -> None:
    entry = _entry(bench, "en_normal_multi_turn_user_switch")
    item = bench.item_of(entry)
    golds = [gold_text(item.stem, t.record.function, t.answer, exact_names=True) for t in item.turns]
    model = ScriptedBenchmarkModel([*golds[:-1], "[wrong_call()]"], mode=EndpointMode.PROMPT_PYTHON)
    output = _run(bench, entry, model)
    assert output.requests == len(item.turns) >= 2
    score = bench.score(entry, output)
    assert score.score == 0.0
    assert score.details["process"]["strict"] == (len(item.turns) - 1) / len(item.turns)


def test_special_entry(bench: AceBench) -> None:
    entry = _entry(bench, "en_special_irrelevant")
    model = ScriptedBenchmarkModel(['["Due to the limitations of the function, I cannot solve this problem."]'])
    output = _run(bench, entry, model)
    assert "There is incorrect value" in model.requests[0][0]["content"]
    assert bench.score(entry, output).score == 1.0


def _milestone_agent(milestones: list[str]) -> ScriptedBenchmarkModel:
    return ScriptedBenchmarkModel([*milestones, "finish conversation"], mode=EndpointMode.PROMPT_PYTHON)


def test_agent_multi_step_episode(bench: AceBench) -> None:
    entry = _entry(bench, "en_agent_multi_step", 2)
    item = bench.item_of(entry)
    assert item.agent_answer is not None
    milestones = item.agent_answer.milestone_alternatives()[0]
    model = _milestone_agent(["I will log in first.", *milestones])
    output = _run(bench, entry, model)
    assert output.extra["stop_reason"] == "agent_finished"
    assert output.extra["process"] == [m.strip() for m in milestones]
    assert "Please do not ask me any questions" in output.extra["history"][2]
    score = bench.score(entry, output)
    assert score.variant_scores == {"upstream": 1.0, "strict": 1.0}
    assert score.details["process"] == {"upstream": 1.0, "strict": 1.0}


def test_agent_multi_step_wrong_end_state_gets_partial_process(bench: AceBench) -> None:
    entry = _entry(bench, "en_agent_multi_step", 2)
    item = bench.item_of(entry)
    assert item.agent_answer is not None
    milestones = item.agent_answer.milestone_alternatives()[0]
    output = _run(bench, entry, _milestone_agent(milestones[:-1]))
    score = bench.score(entry, output)
    assert score.score == 0.0
    assert score.details["process"]["upstream"] == (len(milestones) - 1) / len(milestones)


def test_agent_multi_turn_episode_with_simulated_user(bench: AceBench) -> None:
    entry = _entry(bench, "en_agent_multi_turn", 3)  # wifi on, logged in: 3 milestones
    item = bench.item_of(entry)
    assert item.agent_answer is not None
    milestones = item.agent_answer.milestone_alternatives()[0]
    bench.user_model = ScriptedChatModel(
        replies=["I want to send a message to Frank.", "Delete the oldest message, please.", "finish conversation"]
    )
    try:
        agent = ScriptedBenchmarkModel(
            [milestones[0], "The inbox is full. Which message should I delete?", *milestones[1:], "Done, message sent."],
            mode=EndpointMode.PROMPT_PYTHON,
        )
        output = _run(bench, entry, agent)
    finally:
        bench.user_model = None
    history = output.extra["history"]
    assert history[0] == "user: I want to send a message to Frank."
    assert history[-1] == "user: finish conversation"
    assert output.extra["stop_reason"] == "user_finished"
    assert any(line.startswith("execution: ") for line in history)
    assert bench.score(entry, output).variant_scores == {"upstream": 1.0, "strict": 1.0}


def test_agent_function_calling_mode_executes_tool_calls(bench: AceBench) -> None:
    entry = _entry(bench, "en_agent_multi_step", 18)  # search, delete, wifi, send
    item = bench.item_of(entry)
    assert item.agent_answer is not None
    steps = [parse_python(m.strip()).calls for m in item.agent_answer.milestone_alternatives()[0]]
    replies = [ModelReply(tool_calls=calls) for calls in steps] + [ModelReply(text="finish conversation", raw="finish conversation")]
    output = _run(bench, entry, ScriptedBenchmarkModel(replies, mode=EndpointMode.FUNCTION_CALLING))
    assert output.extra["process"][1] == "[delete_message(message_id=5)]"
    assert bench.score(entry, output).variant_scores == {"upstream": 1.0, "strict": 1.0}


def test_agent_without_any_execution_has_no_state(bench: AceBench) -> None:
    entry = _entry(bench, "zh_agent_multi_step")
    output = _run(bench, entry, ScriptedBenchmarkModel(["finish conversation"]))
    assert output.extra["state"] is None
    score = bench.score(entry, output)
    assert score.score == 0.0 and not score.valid



def test_user_settings_default_to_the_model_under_test(bench: AceBench) -> None:
    from looptool.config import RoleSettings

    model = ScriptedBenchmarkModel(["x"])
    settings = bench.user_settings(model)
    assert settings.base_urls == [model.endpoint.base_url] and settings.model == model.endpoint.model
    configured = AceBench({"user_sim": {"model": "judge-7b", "sampling": {"temperature": 0.1}}})
    filled = configured.user_settings(model)
    assert isinstance(filled, RoleSettings)
    assert filled.base_urls == [model.endpoint.base_url] and filled.model == "judge-7b"
