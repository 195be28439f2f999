"""The benchmark chat model goes through the shared HTTP transport: its retry policy and its
usage records (a 503 then a 200 from a fake server; retries running out; a 4xx per entry)."""

from __future__ import annotations

import asyncio

import pytest

import looptool.transport as transport_module
from looptool.benchmarks.base import EndpointError, ModelEndpoint, ModelReply, leaderboard_sampling
from looptool.benchmarks.runner.chat import OpenAIChatModel
from tests.fake_openai_server import FakeOpenAIServer, HttpError


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport_module, "backoff_delay", lambda attempt: 0.0)


def ask(model: OpenAIChatModel) -> ModelReply:
    """One chat request, inside the model's ``async with``."""

    async def run() -> ModelReply:
        async with model:
            return await model.chat_raw([{"role": "user", "content": "hi"}])

    return asyncio.run(run())


def test_a_503_is_retried_through_the_shared_transport_and_recorded() -> None:
    with FakeOpenAIServer(replies=[HttpError(503), "ok"]) as server:
        model = OpenAIChatModel(ModelEndpoint(base_url=server.base_url, model="fake", max_retries=2))
        reply = ask(model)
        assert len(server.chat_bodies) == 2
    assert reply.error is None and reply.text == "ok"
    assert (reply.prompt_tokens, reply.completion_tokens) == (10, 5)
    assert model.requests == 2
    records = model.usage.records()
    assert [(record.attempt, record.status, record.ok) for record in records] == [(1, 503, False), (2, 200, True)]
    assert {record.role for record in records} == {"eval:fake"}
    assert records[1].prompt_tokens == 10 and records[1].completion_tokens == 5
    assert records[0].error == "HTTP 503" and records[0].base_url == server.base_url


def test_retries_running_out_raise_an_endpoint_error() -> None:
    with FakeOpenAIServer(replies=[HttpError(503), HttpError(503), HttpError(503), "ok"]) as server:
        model = OpenAIChatModel(ModelEndpoint(base_url=server.base_url, model="fake", max_retries=2))
        with pytest.raises(EndpointError, match="3 attempt\\(s\\) failed; last: HTTP 503"):
            ask(model)
        assert len(server.chat_bodies) == model.requests == 3


def test_an_unreachable_endpoint_raises_after_the_retries() -> None:
    model = OpenAIChatModel(ModelEndpoint(base_url="http://127.0.0.1:9/v1", model="fake", max_retries=1))
    with pytest.raises(EndpointError, match="2 attempt\\(s\\) failed; last: ConnectError"):
        ask(model)
    assert [record.status for record in model.usage.records()] == [None, None]


def test_a_client_error_is_the_entry_s_error_and_not_retried() -> None:
    with FakeOpenAIServer(replies=[HttpError(400), "ok"]) as server:
        model = OpenAIChatModel(ModelEndpoint(base_url=server.base_url, model="fake"))
        reply = ask(model)
        assert len(server.chat_bodies) == 1
    assert reply.error is not None and reply.error.startswith("HTTP 400")


VLLM_TOO_LONG = (
    "This model's maximum context length is 4096 tokens. However, you requested 4496 tokens "
    "(400 in the messages, 4096 in the completion). Please reduce the length of the messages or completion."
)


def test_max_tokens_past_the_context_is_asked_again_with_what_fits_as_bfcl_does() -> None:
    def answer(body: dict) -> object:
        return HttpError(400, VLLM_TOO_LONG) if body["max_tokens"] > 3694 else "fits"

    with FakeOpenAIServer(replies=[answer]) as server:
        model = OpenAIChatModel(ModelEndpoint(base_url=server.base_url, model="fake", sampling=leaderboard_sampling()))
        reply = ask(model)
        assert [body["max_tokens"] for body in server.chat_bodies] == [4096, 4096 - 400 - 2]
    assert reply.error is None and reply.text == "fits"


def test_a_prompt_longer_than_the_context_stays_a_request_error() -> None:
    from looptool.benchmarks.runner.chat import fitted_max_tokens

    too_long = VLLM_TOO_LONG.replace("(400 in the messages", "(4200 in the messages")
    assert fitted_max_tokens(f"HTTP 400: {too_long}", 4096) is None
    assert fitted_max_tokens("HTTP 400: something else", 4096) is None
    assert fitted_max_tokens(f"HTTP 400: {VLLM_TOO_LONG}", 4096) == 3694
    with FakeOpenAIServer(replies=[HttpError(400, too_long)]) as server:
        reply = ask(OpenAIChatModel(ModelEndpoint(base_url=server.base_url, model="fake")))
        assert len(server.chat_bodies) == 1
    assert reply.error and "maximum context length" in reply.error
