"""The LLM-simulated backend stays consistent within a dialogue (scripted fake models)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from looptool.agents.backends.settings import SimulatorSettings
from looptool.agents.backends.simulated import SimulatedBackend, reply_schema
from looptool.schema import ToolCall, ToolSpec
from tests.fake_models import Reply, ScriptedChatModel

ORDER = {"type": "object", "properties": {"order_id": {"type": "string"},
                                          "status": {"type": "string"}},
         "required": ["order_id", "status"]}
TOOLS = [
    ToolSpec(name="create_order", description="Order an item.",
             parameters={"type": "object", "properties": {"item": {"type": "string"}},
                         "required": ["item"]}, returns=ORDER),
    ToolSpec(name="get_order", description="Look up an order.",
             parameters={"type": "object", "properties": {"order_id": {"type": "string"}},
                         "required": ["order_id"]}, returns=ORDER),
    ToolSpec(name="cancel_order", description="Cancel an order.",
             parameters={"type": "object", "properties": {"order_id": {"type": "string"}},
                         "required": ["order_id"]}),
]


def text_only(replies: list[Reply]) -> ScriptedChatModel:
    """A model without structured-output support: the backend's text path."""
    return ScriptedChatModel(replies=replies, structured_output=False)


def reply(result: Any, summary: str, changes: bool, outcome: str = "success",
          error: str = "") -> dict[str, Any]:
    return {"outcome": outcome, "result": result, "error_message": error,
            "state_summary": summary, "changes_state": changes}


def test_repeated_calls_agree_and_state_flows_into_prompts() -> None:
    model = text_only([
        reply({"order_id": "A1", "status": "pending"}, "Order A1 (book) is pending.", True),
        reply({"order_id": "A1", "status": "pending"}, "Order A1 (book) is pending.", False),
        "```json\n" + json.dumps(reply({"cancelled": True}, "Order A1 (book) is cancelled.", True)) + "\n```",
        reply({"order_id": "A1", "status": "cancelled"}, "Order A1 (book) is cancelled.", False),
    ])
    sim = SimulatedBackend(TOOLS, model)
    created = sim.execute(ToolCall(name="create_order", arguments={"item": "book"}))
    assert created.ok and json.loads(created.content) == {"order_id": "A1", "status": "pending"}
    first = sim.execute(ToolCall(name="get_order", arguments={"order_id": "A1"}))
    prompt = model.calls[1].text
    assert "Order A1 (book) is pending." in prompt  # the state summary
    assert 'create_order({"item": "book"}) -> {"order_id": "A1", "status": "pending"}' in prompt
    again = sim.execute(ToolCall(name="get_order", arguments={"order_id": "A1"}, id="x"))
    assert again.content == first.content and again.call_id == "x"
    assert len(model.calls) == 2  # an identical read is answered from the dialogue's record
    assert sim.execute(ToolCall(name="cancel_order", arguments={"order_id": "A1"})).ok
    after = asyncio.run(sim.aexecute(ToolCall(name="get_order", arguments={"order_id": "A1"})))
    assert json.loads(after.content)["status"] == "cancelled"
    assert len(model.calls) == 4  # the cancel changed state, so the read was asked again
    assert "is cancelled" in model.calls[3].text
    state = sim.snapshot()
    assert state["state_summary"] == "Order A1 (book) is cancelled."
    assert [call["reused"] for call in state["calls"]] == [False, False, True, False, False]
    assert state["calls"][0]["input_tokens"] == 10


def test_result_breaking_the_return_schema_is_retried_with_feedback() -> None:
    model = text_only([
        reply({"order_id": 7}, "x", True),
        reply({"order_id": "B2", "status": "pending"}, "Order B2 pending.", True),
    ])
    sim = SimulatedBackend(TOOLS, model)
    result = sim.execute(ToolCall(name="create_order", arguments={"item": "pen"}))
    assert result.ok and json.loads(result.content)["order_id"] == "B2"
    feedback = model.calls[1].text
    assert "does not follow the return schema: " in feedback
    assert "order_id: 7 is not of type 'string'" in feedback
    assert "'status' is a required property" in feedback
    assert sim.snapshot()["calls"][0]["attempts"] == 2


def test_failures_come_back_as_error_results() -> None:
    model = text_only(["not json", "still not json", RuntimeError("server down")])
    sim = SimulatedBackend(TOOLS, model, settings=SimulatorSettings(max_attempts=2))
    result = sim.execute(ToolCall(name="create_order", arguments={"item": "pen"}))
    assert not result.ok and "after 2 attempt(s): the reply contains no JSON object" in result.content
    down = sim.execute(ToolCall(name="create_order", arguments={"item": "cup"}))
    assert not down.ok and "RuntimeError: server down" in down.content
    # checks that need no model: unknown tool, arguments against the schema
    assert "unknown tool 'delete_everything'" in sim.execute(
        ToolCall(name="delete_everything", arguments={})).content
    assert "'order_id' is a required property" in sim.execute(
        ToolCall(name="get_order", arguments={"id": "A1"})).content
    assert len(model.calls) == 3


def test_simulated_error_outcome_is_a_tool_error() -> None:
    model = text_only([reply(None, "No orders exist.", False, "error", "order Z9 not found")])
    sim = SimulatedBackend(TOOLS, model, scenario="No orders exist.")
    result = sim.execute(ToolCall(name="get_order", arguments={"order_id": "Z9"}))
    assert not result.ok and json.loads(result.content) == {"error": "order Z9 not found"}
    assert "No orders exist." in model.calls[0].text


def test_structured_output_path_uses_the_reply_schema() -> None:
    model = ScriptedChatModel(replies=[reply({"order_id": "C3", "status": "new"}, "C3 new.", True)])
    sim = SimulatedBackend(TOOLS, model)
    result = asyncio.run(sim.aexecute(ToolCall(name="create_order", arguments={"item": "mug"})))
    assert result.ok and json.loads(result.content) == {"order_id": "C3", "status": "new"}
    schema = model.calls[0].kwargs["response_format"]["json_schema"]["schema"]
    assert schema == reply_schema(TOOLS[0])
    assert schema["properties"]["result"]["anyOf"][0] == ORDER


@pytest.mark.parametrize("spec", TOOLS)
def test_reply_schema_is_valid_json_schema(spec: ToolSpec) -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(reply_schema(spec))


def test_parallel_calls_in_one_dialogue_see_each_others_state() -> None:
    model = text_only([
        reply({"order_id": "A1", "status": "new"}, "A1 exists.", True),
        reply({"order_id": "A2", "status": "new"}, "A1 and A2 exist.", True),
    ])
    sim = SimulatedBackend(TOOLS, model)

    async def both() -> list[Any]:
        return list(await asyncio.gather(
            sim.aexecute(ToolCall(name="create_order", arguments={"item": "a"})),
            sim.aexecute(ToolCall(name="create_order", arguments={"item": "b"})),
        ))

    results = asyncio.run(both())
    assert all(result.ok for result in results)
    assert "A1 exists." in model.calls[1].text  # the second call saw the first one's state
    assert sim.snapshot()["state_summary"] == "A1 and A2 exist."


def test_from_config_reads_the_tools_section() -> None:
    from looptool.config import ConfigError, load_config

    config = load_config(None, ["tools.simulator.max_attempts=3", "tools.simulator.history_window=1"])
    model = text_only(["bad", "bad", "bad"])
    sim = SimulatedBackend.from_config(TOOLS, config, model=model, scenario="Empty shop.")
    assert sim.settings.max_attempts == 3 and sim.settings.history_window == 1
    result = sim.execute(ToolCall(name="create_order", arguments={"item": "x"}))
    assert not result.ok and "after 3 attempt(s)" in result.content
    with pytest.raises(ConfigError, match="tools.simulator.max_attempts"):
        load_config(None, ["tools.simulator.max_attempts=0"])


def test_reply_without_required_fields_is_explained() -> None:
    model = text_only([{"result": {"order_id": "A", "status": "x"}}])
    sim = SimulatedBackend(TOOLS, model, settings=SimulatorSettings(max_attempts=1))
    result = sim.execute(ToolCall(name="create_order", arguments={"item": "x"}))
    assert not result.ok and "field 'outcome' of the reply: Field required" in result.content
