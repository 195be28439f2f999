"""The shared HTTP transport against local fake OpenAI servers: load balancing, the retry
policy, usage records, cancellation."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import looptool.transport as transport_module
from looptool.transport import (
    RETRY_STATUSES,
    BalancedTransport,
    EndpointPool,
    LLMConfigError,
    normalize_base_url,
)
from looptool.usage import UsageRecorder
from tests.fake_openai_server import FakeOpenAIServer, HttpError, dead_url, role_settings


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport_module, "backoff_delay", lambda attempt: 0.0)


def chat(*urls: str, retries: int = 3, usage: UsageRecorder | None = None) -> httpx.Client:
    """A plain httpx client over the transport, addressed to the first URL."""
    transport = BalancedTransport.for_role(role_settings(*urls, retries=retries), role_name="judge", usage=usage)
    return httpx.Client(transport=transport, base_url=transport.nominal_base_url)


BODY = {"model": "m1", "messages": [{"role": "user", "content": "hi"}]}


def test_round_robin_over_two_servers_and_usage_recorded() -> None:
    with FakeOpenAIServer(replies=["A"]) as a, FakeOpenAIServer(replies=["B"]) as b:
        usage = UsageRecorder()
        client = chat(a.base_url, b.base_url, usage=usage)
        replies = [client.post("/chat/completions", json=BODY).json()["choices"][0]["message"]["content"] for _ in range(6)]
        assert sorted(replies) == ["A"] * 3 + ["B"] * 3
        assert len(a.chat_bodies) == len(b.chat_bodies) == 3
        summary = usage.summary()
        assert summary.roles["judge"].calls == 6
        assert summary.total_prompt_tokens == 60 and summary.total_completion_tokens == 30
        records = usage.records()
        assert {record.base_url for record in records} == {a.base_url, b.base_url}
        assert all(record.ok and record.latency_s > 0 and record.model == "m1" for record in records)
        assert {record.endpoint for record in records} == {"/v1/chat/completions"}


def test_least_in_flight_wins() -> None:
    pool = EndpointPool.of(["http://a/v1", "http://b/v1", "http://c/v1"])
    first, second = pool.acquire(), pool.acquire()
    third = pool.acquire()
    assert {first.base_url, second.base_url, third.base_url} == {"http://a/v1", "http://b/v1", "http://c/v1"}
    pool.release(second, ok=True)
    assert pool.acquire() is second  # the only idle endpoint
    assert pool.acquire(avoid=first.base_url) is not first


def test_retries_5xx_on_the_other_endpoint() -> None:
    with FakeOpenAIServer(replies=[HttpError(503)]) as bad, FakeOpenAIServer(replies=["ok"]) as good:
        usage = UsageRecorder()
        client = chat(bad.base_url, good.base_url, usage=usage)
        assert all(client.post("/chat/completions", json=BODY).status_code == 200 for _ in range(4))
        failed = [record for record in usage.records() if not record.ok]
        assert failed and all(record.status == 503 and record.base_url == bad.base_url for record in failed)
        assert usage.summary().roles["judge"].failed_calls == len(failed)


def test_single_endpoint_recovers_after_transient_failures() -> None:
    with FakeOpenAIServer(replies=[HttpError(502), HttpError(502), "back"]) as flaky:
        usage = UsageRecorder()
        client = chat(flaky.base_url, usage=usage)
        assert client.post("/chat/completions", json=BODY).json()["choices"][0]["message"]["content"] == "back"
        assert [(record.attempt, record.status) for record in usage.records()] == [(1, 502), (2, 502), (3, 200)]


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
def test_every_retry_status_is_retried_a_bounded_number_of_times(status: int) -> None:
    with FakeOpenAIServer(replies=[HttpError(status)]) as bad:
        client = chat(bad.base_url, retries=2)
        assert client.post("/chat/completions", json=BODY).status_code == status  # the last answer
        assert len(bad.chat_bodies) == 3  # one try + two retries


@pytest.mark.parametrize("status", [400, 404, 422, 501])
def test_other_errors_are_not_retried(status: int) -> None:
    with FakeOpenAIServer(replies=[HttpError(status)]) as bad:
        usage = UsageRecorder()
        client = chat(bad.base_url, usage=usage)
        assert client.post("/chat/completions", json=BODY).status_code == status
        assert len(bad.chat_bodies) == 1
        (record,) = usage.records()
        assert not record.ok and record.error == f"HTTP {status}"


def test_connection_errors_move_to_a_live_endpoint() -> None:
    with FakeOpenAIServer(replies=["ok"]) as good:
        usage = UsageRecorder()
        client = chat(dead_url(), good.base_url, usage=usage)
        assert [client.post("/chat/completions", json=BODY).status_code for _ in range(2)] == [200, 200]
        errors = [record for record in usage.records() if record.error and "Connect" in record.error]
        assert errors and all(record.status is None and not record.ok for record in errors)


def test_connection_errors_surface_after_the_retries() -> None:
    usage = UsageRecorder()
    client = chat(dead_url(), retries=1, usage=usage)
    with pytest.raises(httpx.ConnectError):
        client.post("/chat/completions", json=BODY)
    assert [record.attempt for record in usage.records()] == [1, 2]


def test_async_calls_spread_over_endpoints() -> None:
    with FakeOpenAIServer(delay_s=0.05) as a, FakeOpenAIServer(delay_s=0.05) as b:
        usage = UsageRecorder()
        transport = BalancedTransport.for_role(role_settings(a.base_url, b.base_url), role_name="user_sim", usage=usage)

        async def run() -> list[int]:
            async with httpx.AsyncClient(transport=transport, base_url=transport.nominal_base_url) as client:
                answers = await asyncio.gather(*[client.post("/chat/completions", json=BODY) for _ in range(8)])
            return [answer.status_code for answer in answers]

        assert asyncio.run(run()) == [200] * 8
        assert len(a.chat_bodies) == len(b.chat_bodies) == 4
        assert len(usage.records("user_sim")) == 8


def test_a_cancelled_request_gives_its_slot_back() -> None:
    with FakeOpenAIServer(delay_s=2.0) as slow:
        transport = BalancedTransport.for_role(role_settings(slow.base_url), role_name="policy")

        async def run() -> None:
            async with httpx.AsyncClient(transport=transport, base_url=transport.nominal_base_url) as client:
                request = asyncio.create_task(client.post("/chat/completions", json=BODY))
                await asyncio.sleep(0.3)
                assert transport.pool.endpoints[0].in_flight == 1
                request.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await request

        asyncio.run(run())
        (endpoint,) = transport.pool.endpoints
        assert endpoint.in_flight == 0 and endpoint.failures == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("http://h:1/v1/", "http://h:1/v1"), (" http://h:1 ", "http://h:1/v1"), ("https://x.ai/v1", "https://x.ai/v1")],
)
def test_normalize_base_url(raw: str, expected: str) -> None:
    assert normalize_base_url(raw) == expected


def test_bad_base_url_is_named() -> None:
    with pytest.raises(LLMConfigError, match="h:1"):
        normalize_base_url("h:1/v1")
    with pytest.raises(LLMConfigError, match="no base URL"):
        EndpointPool.of([])
