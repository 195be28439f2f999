"""The chat-model factory against local fake OpenAI servers: a real ChatOpenAI whose calls go
through the shared transport (balancing, retries, usage), sampling settings, structured output."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel

import looptool.transport as transport_module
from looptool.agents.chat_models import make_chat_model
from looptool.config import RoleSettings, SamplingSettings, load_config
from looptool.transport import LLMConfigError
from looptool.usage import UsageRecorder
from tests.fake_openai_server import FakeOpenAIServer, HttpError, role_settings


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport_module, "backoff_delay", lambda attempt: 0.0)


def test_round_robin_over_two_servers_and_usage_recorded() -> None:
    with FakeOpenAIServer(replies=["A"]) as a, FakeOpenAIServer(replies=["B"]) as b:
        usage = UsageRecorder()
        model = make_chat_model(role_settings(a.base_url, b.base_url), "judge", usage=usage)
        replies = [model.invoke([HumanMessage("hi")]).content for _ in range(6)]
        assert sorted(replies) == ["A"] * 3 + ["B"] * 3
        summary = usage.summary()
        assert summary.roles["judge"].calls == 6
        assert summary.total_prompt_tokens == 60 and summary.total_completion_tokens == 30


def test_sampling_settings_reach_the_server() -> None:
    with FakeOpenAIServer() as server:
        settings = RoleSettings(
            base_urls=[server.base_url], model="m1", sampling=SamplingSettings(temperature=0.3, top_p=0.9, max_tokens=21, seed=5)
        )
        make_chat_model(settings).invoke([HumanMessage("hi")])
        body = server.chat_bodies[0]
        assert body["model"] == "m1" and body["temperature"] == 0.3 and body["top_p"] == 0.9 and body["seed"] == 5
        assert body.get("max_tokens", body.get("max_completion_tokens")) == 21


def test_a_whole_config_uses_the_role_and_the_serve_url() -> None:
    with FakeOpenAIServer(replies=["served"]) as server:
        port = server.base_url.split(":")[-1].removesuffix("/v1")
        usage = UsageRecorder()
        model = make_chat_model(load_config(None, [f"serve.port={port}"]), "policy", usage=usage)
        assert model.invoke([HumanMessage("hi")]).content == "served"
        assert [record.role for record in usage.records()] == ["policy"]
        with pytest.raises(LLMConfigError, match="no base_urls"):
            make_chat_model(RoleSettings())


def test_transient_failures_are_retried_by_the_transport() -> None:
    with FakeOpenAIServer(replies=[HttpError(503), HttpError(503), "back"]) as flaky:
        usage = UsageRecorder()
        assert make_chat_model(role_settings(flaky.base_url), usage=usage).invoke([HumanMessage("hi")]).content == "back"
        assert [record.attempt for record in usage.records()] == [1, 2, 3]


def test_retries_are_bounded_then_the_openai_error_surfaces() -> None:
    with FakeOpenAIServer(replies=[HttpError(500)]) as bad:
        with pytest.raises(openai.InternalServerError):
            make_chat_model(role_settings(bad.base_url, retries=2)).invoke([HumanMessage("hi")])
        assert len(bad.chat_bodies) == 3  # one try + two retries, no SDK retries on top


def test_client_errors_are_not_retried() -> None:
    with FakeOpenAIServer(replies=[HttpError(400)]) as bad:
        with pytest.raises(openai.BadRequestError):
            make_chat_model(role_settings(bad.base_url)).invoke([HumanMessage("hi")])
        assert len(bad.chat_bodies) == 1


def test_async_calls_spread_and_are_recorded() -> None:
    with FakeOpenAIServer(delay_s=0.05) as a, FakeOpenAIServer(delay_s=0.05) as b:
        usage = UsageRecorder()
        model = make_chat_model(role_settings(a.base_url, b.base_url), "user_sim", usage=usage)

        async def run() -> list[str]:
            replies = await asyncio.gather(*[model.ainvoke([HumanMessage(str(i))]) for i in range(8)])
            return [str(reply.content) for reply in replies]

        assert asyncio.run(run()) == ["hello"] * 8
        assert len(a.chat_bodies) == len(b.chat_bodies) == 4
        assert len(usage.records("user_sim")) == 8


class Verdict(BaseModel):
    label: str
    score: int


def test_structured_output_uses_json_schema() -> None:
    with FakeOpenAIServer(replies=[json.dumps({"label": "PRED_WRONG", "score": 3})]) as server:
        structured = make_chat_model(role_settings(server.base_url)).with_structured_output(Verdict, method="json_schema")
        verdict = structured.invoke([HumanMessage("judge this")])
        assert verdict == Verdict(label="PRED_WRONG", score=3)
        response_format = server.chat_bodies[0]["response_format"]
        assert response_format["type"] == "json_schema"
        assert response_format["json_schema"]["schema"]["required"] == ["label", "score"]
