"""Dialogue graph with scripted models: routing and every stop condition."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from looptool.graphs.dialogue.config import DialogueSynthSettings, IntRange
from looptool.graphs.dialogue.context import DialogueContext, DialogueModels
from looptool.graphs.dialogue.graph import graph, recursion_limit
from looptool.schema import Role, ToolSpec
from looptool.traces import EventKind, TraceStore
from tests.fake_models import Reply, ScriptedChatModel
from tests.graphs.dialogue.fakes import (
    ADD_TOOL,
    ScriptedToolRunner,
    hermes,
    plan_json,
    user_json,
)


def settings(**overrides: Any) -> DialogueSynthSettings:
    base: dict[str, Any] = {
        "tools_offered": IntRange(min=1, max=1),
        "turns": IntRange(min=1, max=1),
        "parallel_share": 0.0,
        "irrelevance_share": 0.0,
        "withhold_share": 0.0,
    }
    base.update(overrides)
    return DialogueSynthSettings(**base)


class Harness:
    """Runs one dialogue through the compiled graph with scripted roles."""

    def __init__(self, tmp_path: Path, *, planner: list[Reply], user: list[Reply], assistant: list[Reply],
                 config: DialogueSynthSettings | None = None, library: list[ToolSpec] | None = None,
                 tools_fail: bool = False) -> None:
        self.planner = ScriptedChatModel(replies=planner, name="planner")
        self.user = ScriptedChatModel(replies=user, name="user")
        self.assistant = ScriptedChatModel(replies=assistant, name="assistant")
        self.settings = config or settings()
        self.traces = TraceStore(tmp_path / "traces.sqlite")
        self.runners: list[ScriptedToolRunner] = []
        self.library = library or [ADD_TOOL]
        self.tools_fail = tools_fail

    def factory(self, tools: list[ToolSpec]) -> ScriptedToolRunner:
        runner = ScriptedToolRunner(tools, fail=self.tools_fail)
        self.runners.append(runner)
        return runner

    def run(self) -> dict[str, Any]:
        self.traces.start("d1")
        context = DialogueContext(
            settings=self.settings, library=self.library,
            models=DialogueModels(self.planner, self.user, self.assistant),
            simulator_factory=self.factory, traces=self.traces,
        )
        limit = recursion_limit(self.settings.max_assistant_steps, self.settings.turns.max + 1)
        result: dict[str, Any] = asyncio.run(graph.ainvoke(
            {"dialogue_id": "d1", "index": 0, "seed": 0}, context=context,
            config={"recursion_limit": limit},
        ))
        return result

    def node_path(self) -> list[str]:
        return [event.node or "" for event in self.traces.events("d1", kind=EventKind.NODE)]


def test_routes_planner_user_assistant_tool_and_stops_on_plan_completion(tmp_path: Path) -> None:
    harness = Harness(
        tmp_path,
        planner=[plan_json()],
        user=[user_json("Please add 2 and 3.")],
        assistant=[hermes("add", {"a": 2, "b": 3}), "2 + 3 = 5."],
    )
    state = harness.run()
    assert harness.node_path() == ["planner", "user", "assistant", "tool", "assistant", "user"]
    assert state["stop_reason"] == "plan_complete"
    roles = [message.role for message in state["messages"]]
    assert roles == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]
    assert state["messages"][1].tool_calls[0].arguments == {"a": 2, "b": 3}
    assert state["messages"][2].content == "5"  # the tool really ran
    assert state["plan"].task == "Add 2 and 3" and state["plan"].tool_names == ["add"]
    # the user was asked only once: the planned single turn was used, no LLM call to end
    assert len(harness.user.calls) == 1
    # structured roles ask for JSON Schema output; the assistant gets the Hermes tool prompt
    assert harness.planner.calls[0].kwargs["response_format"]["type"] == "json_schema"
    assert "<tools>" in str(harness.assistant.calls[0].messages[0].content)
    # the demonstration turn is in the generator's prompt, never in the dialogue itself
    prompt = [str(message.content) for message in harness.assistant.calls[0].messages]
    assert prompt[1] == "(example) Use the add tool."
    assert '"name": "add", "arguments": {"a": 5, "b": 5}' in prompt[2]
    assert prompt[3] == "Please add 2 and 3."
    assert all("(example)" not in message.content for message in state["messages"])
    llm_events = harness.traces.events("d1", kind=EventKind.LLM_CALL)
    assert [event.node for event in llm_events] == ["planner", "user", "assistant", "assistant"]
    assert all(event.prompt_tokens == 10 and event.completion_tokens == 5 for event in llm_events)
    assert [event.content for event in harness.traces.events("d1", kind=EventKind.TOOL_CALL)] == ["add"]


def test_demonstration_turn_can_be_switched_off(tmp_path: Path) -> None:
    harness = Harness(
        tmp_path,
        config=settings(assistant_demo=False),
        planner=[plan_json()],
        user=[user_json("Please add 2 and 3.")],
        assistant=["Sure: 5."],
    )
    harness.run()
    prompt = [str(message.content) for message in harness.assistant.calls[0].messages]
    assert len(prompt) == 2 and prompt[1] == "Please add 2 and 3."


@pytest.mark.parametrize("trace_prompts", [True, False])
def test_prompts_in_traces_are_optional(tmp_path: Path, trace_prompts: bool) -> None:
    harness = Harness(
        tmp_path,
        config=settings(trace_prompts=trace_prompts),
        planner=[plan_json()],
        user=[user_json("Please add 2 and 3.")],
        assistant=["Sure: 5."],
    )
    harness.run()
    calls = harness.traces.events("d1", kind=EventKind.LLM_CALL)
    assert calls and all(("messages_in" in event.data) is trace_prompts for event in calls)


def test_user_can_end_the_dialogue(tmp_path: Path) -> None:
    harness = Harness(
        tmp_path,
        config=settings(turns=IntRange(min=3, max=3)),
        planner=[plan_json()],
        user=[user_json("What is 2 plus 3?"), user_json("Thanks, that's all.", done=True)],
        assistant=[hermes("add", {"a": 2, "b": 3}), "It is 5."],
    )
    state = harness.run()
    assert state["stop_reason"] == "plan_complete"
    assert state["stop_detail"] == "the user ended the dialogue"
    assert len(harness.user.calls) == 2
    assert [message.role for message in state["messages"]][-1] == Role.ASSISTANT


def test_turn_cap_stops_an_assistant_that_never_answers(tmp_path: Path) -> None:
    harness = Harness(
        tmp_path,
        config=settings(max_assistant_steps=3),
        planner=[plan_json()],
        user=[user_json("add 2 and 3")],
        assistant=[hermes("add", {"a": 2, "b": 3})] * 6,
    )
    state = harness.run()
    assert state["stop_reason"] == "turn_cap"
    assistant_turns = [m for m in state["messages"] if m.role == Role.ASSISTANT]
    assert len(assistant_turns) == 3
    assert harness.node_path()[-1] == "assistant"


def test_repeated_tool_failure_stops(tmp_path: Path) -> None:
    harness = Harness(
        tmp_path,
        config=settings(max_tool_failures=2, max_assistant_steps=6),
        planner=[plan_json()],
        user=[user_json("add 2 and 3")],
        assistant=[hermes("add", {"a": 2, "b": 3})] * 6,
        tools_fail=True,
    )
    state = harness.run()
    assert state["stop_reason"] == "tool_failures"
    assert "backend down" in state["stop_detail"]
    assert len(harness.runners[0].calls) == 2
    results = harness.traces.events("d1", kind=EventKind.TOOL_RESULT)
    assert [event.data["ok"] for event in results] == [False, False]


def test_unparseable_assistant_reply_is_resampled_then_stops(tmp_path: Path) -> None:
    broken = '<tool_call>\n{"name": "add", "arguments": {"a": 2,}\n</tool_call>'
    harness = Harness(
        tmp_path,
        config=settings(assistant_retries=1),
        planner=[plan_json()],
        user=[user_json("add 2 and 3")],
        assistant=[broken, broken],
    )
    state = harness.run()
    assert state["stop_reason"] == "malformed_output"
    assert len(harness.assistant.calls) == 2
    assert state["parse_errors"] and "invalid_json" in state["parse_errors"][0]


def test_planner_that_never_returns_json_fails_the_dialogue(tmp_path: Path) -> None:
    harness = Harness(
        tmp_path,
        config=settings(parse_retries=1),
        planner=["I will plan something nice.", '{"steps": []}'],
        user=[],
        assistant=[],
    )
    state = harness.run()
    assert state["stop_reason"] == "planner_failed"
    assert "field 'task'" in state["stop_detail"]
    assert len(harness.planner.calls) == 2
    # the second attempt saw the first problem fed back
    assert "not usable" in str(harness.planner.calls[1].messages[-1].content)


def test_assistant_question_gets_one_extra_user_turn(tmp_path: Path) -> None:
    harness = Harness(
        tmp_path,
        planner=[plan_json()],
        user=[user_json("add two numbers for me"), user_json("2 and 3")],
        assistant=["Which two numbers?", hermes("add", {"a": 2, "b": 3}), "It is 5."],
    )
    state = harness.run()
    assert state["stop_reason"] == "plan_complete"
    users = [m.content for m in state["messages"] if m.role == Role.USER]
    assert users == ["add two numbers for me", "2 and 3"]


@pytest.mark.parametrize("irrelevance_share", [0.0, 1.0])
def test_irrelevance_knob_hides_the_planned_tools(tmp_path: Path, irrelevance_share: float) -> None:
    other = ToolSpec(name="get_time", description="Current time.")
    harness = Harness(
        tmp_path,
        config=settings(irrelevance_share=irrelevance_share),
        library=[ADD_TOOL, other],
        planner=[plan_json()],
        user=[user_json("add 2 and 3")],
        assistant=["I cannot do that with my tools."],
    )
    state = harness.run()
    planned = [tool.name for tool in state["planned_tools"]]
    offered = [tool.name for tool in state["offered_tools"]]
    if irrelevance_share == 1.0:
        assert state["knobs"].irrelevant and not set(planned) & set(offered)
    else:
        assert not state["knobs"].irrelevant and planned == offered


def test_tool_with_a_registered_backend_runs_executably(tmp_path: Path) -> None:
    from looptool.graphs.dialogue.tools import backend_tool_specs

    calculate = next(spec for spec in backend_tool_specs() if spec.name == "calculate")
    harness = Harness(
        tmp_path,
        library=[calculate],
        planner=[plan_json("Compute (3 + 4) * 2")],
        user=[user_json("What is (3 + 4) * 2?")],
        assistant=[hermes("calculate", {"expression": "(3 + 4) * 2"}), "It is 14."],
    )
    state = harness.run()
    assert state["stop_reason"] == "plan_complete"
    assert "14" in state["messages"][2].content
    assert harness.runners == []  # the simulator was never needed
    call = harness.traces.events("d1", kind=EventKind.TOOL_CALL)[0]
    assert call.data["route"] == "calculator"
