"""The shared test doubles behave as their docstrings say (a broken fake would hide bugs)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from tests.fake_models import ModelCall, ScriptedChatModel, answering
from tests.fake_openai_server import COMPLETIONS_PATH, FakeOpenAIServer, HttpError


class Verdict(BaseModel):
    label: str


def test_replies_come_in_order_and_every_call_is_recorded() -> None:
    model = ScriptedChatModel(replies=["one", {"n": 2}, lambda call: call.text.upper(), ValueError("down")])
    assert model.invoke("a").content == "one"
    assert model.invoke("b").content == '{"n": 2}'
    assert model.bind(temperature=0.5).invoke([HumanMessage("x"), HumanMessage("y")]).content == "X\nY"
    with pytest.raises(ValueError, match="down"):
        model.invoke("d")
    with pytest.raises(AssertionError, match="no reply for call 5"):
        model.invoke("e")
    assert [call.text for call in model.calls] == ["a", "b", "x\ny", "d", "e"]
    assert model.calls[2].kwargs == {"temperature": 0.5}


def test_repeat_last_usage_and_async_delay() -> None:
    model = answering("same", delay_s=0.05, usage={"input_tokens": 3, "output_tokens": 2, "total_tokens": 5})

    async def three() -> list[str]:
        replies = await asyncio.gather(*[model.ainvoke(str(i)) for i in range(3)])
        return [str(reply.content) for reply in replies]

    started = time.perf_counter()
    assert asyncio.run(three()) == ["same"] * 3
    assert time.perf_counter() - started < 0.5  # slept concurrently
    assert model.invoke("x").usage_metadata == {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}


def test_structured_output_like_chat_openai() -> None:
    model = ScriptedChatModel(replies=['{"label": "ok"}', "not json"])
    structured = model.with_structured_output(Verdict, method="json_schema", include_raw=True)
    first = structured.invoke("judge")
    assert isinstance(first, dict)
    assert first["parsed"] == Verdict(label="ok") and first["parsing_error"] is None
    second = asyncio.run(structured.ainvoke("judge"))
    assert isinstance(second, dict)
    assert second["parsed"] is None and second["raw"].content == "not json" and second["parsing_error"]
    response_format = model.calls[0].kwargs["response_format"]
    assert response_format["json_schema"]["name"] == "Verdict"
    plain = ScriptedChatModel(replies=['{"a": 1}']).with_structured_output({"title": "t", "type": "object"},
                                                                           method="json_schema")
    assert plain.invoke("x") == {"a": 1}
    with pytest.raises(ValueError, match="only method='json_schema'"):
        model.with_structured_output(Verdict, method="function_calling")
    with pytest.raises(NotImplementedError):
        ScriptedChatModel(structured_output=False).with_structured_output(Verdict, method="json_schema")


def test_model_call_text_joins_the_messages() -> None:
    assert ModelCall(messages=[HumanMessage("a"), HumanMessage("b")]).text == "a\nb"


def test_server_scripts_statuses_then_replies_and_logs_requests() -> None:
    with FakeOpenAIServer(replies=[HttpError(503), {"content": None, "tool_calls": []}, "ok"],
                          models=["m"]) as server:
        with httpx.Client(base_url=server.base_url) as client:
            assert client.get("/models").json()["data"] == [{"id": "m", "object": "model"}]
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            statuses = [client.post("/chat/completions", json=body) for _ in range(4)]
            assert [answer.status_code for answer in statuses] == [503, 200, 200, 200]
            messages = [answer.json()["choices"][0]["message"] for answer in statuses[1:]]
            assert messages[0] == {"role": "assistant", "content": None, "tool_calls": []}
            assert [message["content"] for message in messages[1:]] == ["ok", "ok"]  # the last repeats
            scored = client.post("/completions", json={"prompt": [97, 98, 99], "prompt_logprobs": 0}).json()
            assert scored["choices"][0]["prompt_logprobs"][2] == {"99": {"logprob": -1.0, "rank": 1,
                                                                          "decoded_token": "c"}}
            assert client.post("/nowhere", json={}).status_code == 404
        assert len(server.chat_bodies) == 4 and server.chat_bodies[0] == body
        assert server.bodies(COMPLETIONS_PATH) == [{"prompt": [97, 98, 99], "prompt_logprobs": 0}]
