"""The client factory against small local fake OpenAI servers: load balancing, retries,
usage recording, structured output and the raw prompt-logprobs client."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel

import looptool.agents.llm as llm
from looptool.agents.llm import (
    EndpointPool,
    LLMConfigError,
    OpenAICompatClient,
    make_chat_model,
    normalize_base_url,
    role_settings,
)
from looptool.agents.usage import UsageRecorder
from looptool.config import RoleSettings, SamplingSettings, load_config


@dataclass
class FakeServer:
    """A tiny OpenAI-compatible server: answers chat completions with ``reply`` or fails
    with ``fail_status`` for the first ``failures`` requests (all of them when None)."""

    reply: str = "hello"
    fail_status: int | None = None
    failures: int | None = None
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self) -> FakeServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                data = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, "body": data})
                if server.delay_s:
                    threading.Event().wait(server.delay_s)
                failing = server.fail_status is not None and (
                    server.failures is None or len(server.requests) <= server.failures
                )
                if failing:
                    assert server.fail_status is not None
                    self._send(server.fail_status, {"error": {"message": "boom"}})
                elif self.path == "/tokenize":
                    self._send(200, {"tokens": [ord(ch) for ch in data["prompt"]]})
                elif self.path == "/v1/completions":
                    prompt = data["prompt"]
                    scored: list[Any] = [None] + [
                        {str(token): {"logprob": -0.5 * (i + 1), "rank": 1, "decoded_token": chr(token)}}
                        for i, token in enumerate(prompt[1:])
                    ]
                    self._send(200, {
                        "choices": [{"text": "x", "finish_reason": "length", "prompt_logprobs": scored}],
                        "usage": {"prompt_tokens": len(prompt), "completion_tokens": 1},
                    })
                else:
                    self._send(200, {
                        "id": "c1", "object": "chat.completion", "created": 0, "model": data.get("model"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": server.reply}}],
                        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                    })

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "smollm2"}, {"id": "iter1"}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[list[FakeServer]]:
    started: list[FakeServer] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llm, "backoff_delay", lambda attempt: 0.0)


def role(*urls: str, retries: int = 3) -> RoleSettings:
    return RoleSettings(base_urls=list(urls), max_retries=retries, timeout_s=10, sampling=SamplingSettings(max_tokens=16))


def dead_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there any more


def test_round_robin_over_two_servers_and_usage_recorded(servers: list[FakeServer]) -> None:
    a, b = FakeServer(reply="A").start(), FakeServer(reply="B").start()
    servers += [a, b]
    usage = UsageRecorder()
    model = make_chat_model(role(a.url, b.url), "judge", usage=usage)
    replies = [model.invoke([HumanMessage("hi")]).content for _ in range(6)]
    assert sorted(replies) == ["A"] * 3 + ["B"] * 3
    assert len(a.requests) == len(b.requests) == 3
    summary = usage.summary()
    assert summary.roles["judge"].calls == 6
    assert summary.total_prompt_tokens == 66 and summary.total_completion_tokens == 42
    assert {record.base_url for record in usage.records()} == {a.url, b.url}
    assert all(record.latency_s > 0 and record.ok for record in usage.records())


def test_sampling_settings_reach_the_server(servers: list[FakeServer]) -> None:
    server = FakeServer().start()
    servers.append(server)
    settings = RoleSettings(base_urls=[server.url], model="m1", sampling=SamplingSettings(temperature=0.3, top_p=0.9, max_tokens=21, seed=5))
    make_chat_model(settings).invoke([HumanMessage("hi")])
    body = server.requests[0]["body"]
    assert body["model"] == "m1" and body["temperature"] == 0.3 and body["top_p"] == 0.9 and body["seed"] == 5
    assert body.get("max_tokens", body.get("max_completion_tokens")) == 21


def test_least_in_flight_wins() -> None:
    pool = EndpointPool.of(["http://a/v1", "http://b/v1", "http://c/v1"])
    first, second = pool.acquire(), pool.acquire()
    third = pool.acquire()
    assert {first.base_url, second.base_url, third.base_url} == {"http://a/v1", "http://b/v1", "http://c/v1"}
    pool.release(second, ok=True)
    assert pool.acquire() is second  # the only idle endpoint
    assert pool.acquire(avoid=first.base_url) is not first


def test_retries_5xx_on_the_other_endpoint(servers: list[FakeServer]) -> None:
    bad, good = FakeServer(fail_status=503).start(), FakeServer(reply="ok").start()
    servers += [bad, good]
    usage = UsageRecorder()
    model = make_chat_model(role(bad.url, good.url), "generator", usage=usage)
    assert [model.invoke([HumanMessage("hi")]).content for _ in range(4)] == ["ok"] * 4
    failed = [record for record in usage.records() if not record.ok]
    assert failed and all(record.status == 503 and record.base_url == bad.url for record in failed)
    assert usage.summary().roles["generator"].failed_calls == len(failed)


def test_retries_connection_errors(servers: list[FakeServer]) -> None:
    good = FakeServer(reply="ok").start()
    servers.append(good)
    usage = UsageRecorder()
    model = make_chat_model(role(dead_url(), good.url), "policy", usage=usage)
    assert model.invoke([HumanMessage("hi")]).content == "ok"
    assert model.invoke([HumanMessage("hi")]).content == "ok"
    errors = [record for record in usage.records() if record.error and "Connect" in record.error]
    assert errors and all(record.status is None for record in errors)


def test_single_endpoint_recovers_after_transient_failures(servers: list[FakeServer]) -> None:
    flaky = FakeServer(fail_status=502, failures=2, reply="back").start()
    servers.append(flaky)
    usage = UsageRecorder()
    model = make_chat_model(role(flaky.url, retries=3), usage=usage)
    assert model.invoke([HumanMessage("hi")]).content == "back"
    assert [record.attempt for record in usage.records()] == [1, 2, 3]


def test_retries_are_bounded_then_the_error_surfaces(servers: list[FakeServer]) -> None:
    bad = FakeServer(fail_status=500).start()
    servers.append(bad)
    model = make_chat_model(role(bad.url, retries=2))
    with pytest.raises(openai.InternalServerError):
        model.invoke([HumanMessage("hi")])
    assert len(bad.requests) == 3  # one try + two retries, no SDK retries on top


def test_client_errors_are_not_retried(servers: list[FakeServer]) -> None:
    bad = FakeServer(fail_status=400).start()
    servers.append(bad)
    with pytest.raises(openai.BadRequestError):
        make_chat_model(role(bad.url)).invoke([HumanMessage("hi")])
    assert len(bad.requests) == 1


def test_async_calls_spread_and_are_recorded(servers: list[FakeServer]) -> None:
    a, b = FakeServer(delay_s=0.05).start(), FakeServer(delay_s=0.05).start()
    servers += [a, b]
    usage = UsageRecorder()
    model = make_chat_model(role(a.url, b.url), "user_sim", usage=usage)

    async def run() -> list[str]:
        replies = await asyncio.gather(*[model.ainvoke([HumanMessage(str(i))]) for i in range(8)])
        return [str(reply.content) for reply in replies]

    assert asyncio.run(run()) == ["hello"] * 8
    assert len(a.requests) == len(b.requests) == 4
    assert len(usage.records("user_sim")) == 8


class Verdict(BaseModel):
    label: str
    score: int


def test_structured_output_uses_json_schema(servers: list[FakeServer]) -> None:
    server = FakeServer(reply=json.dumps({"label": "PRED_WRONG", "score": 3})).start()
    servers.append(server)
    structured = make_chat_model(role(server.url)).with_structured_output(Verdict, method="json_schema")
    verdict = structured.invoke([HumanMessage("judge this")])
    assert verdict == Verdict(label="PRED_WRONG", score=3)
    response_format = server.requests[0]["body"]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"]["required"] == ["label", "score"]


def test_prompt_logprobs_and_continuation_score(servers: list[FakeServer]) -> None:
    server = FakeServer().start()
    servers.append(server)
    usage = UsageRecorder()

    async def run() -> tuple[list[str], float, int]:
        async with OpenAICompatClient.for_role(role(server.url), "policy", usage=usage) as client:
            names = await client.models()
            score = await client.continuation_logprobs("ab", "cd")
            return names, score.perplexity, len(score.token_logprobs)

    names, perplexity, count = asyncio.run(run())
    assert names == ["smollm2", "iter1"]
    # fake server: position i (1-based after the first token) gets logprob -0.5 * i;
    # "cd" are positions 2 and 3 of "abcd" -> logprobs -1.0 and -1.5
    assert count == 2
    assert perplexity == pytest.approx(2.718281828 ** 1.25)
    completion = [request for request in server.requests if request["path"] == "/v1/completions"][0]
    assert completion["body"]["prompt"] == [ord(ch) for ch in "abcd"]
    assert completion["body"]["prompt_logprobs"] == 0
    assert any(record.endpoint == "/tokenize" for record in usage.records("policy"))


def test_role_settings_from_config_fall_back_to_serve_url() -> None:
    config = load_config(None, ["serve.port=9123", "roles.judge.base_urls=[http://h1:1/v1, http://h2:2]"])
    assert role_settings(config, "policy").base_urls == ["http://127.0.0.1:9123/v1"]
    assert role_settings(config, "judge").base_urls == ["http://h1:1/v1", "http://h2:2"]
    with pytest.raises(LLMConfigError, match="unknown model role 'jduge'"):
        role_settings(config, "jduge")
    with pytest.raises(LLMConfigError, match="no base_urls"):
        make_chat_model(RoleSettings())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("http://h:1/v1/", "http://h:1/v1"), (" http://h:1 ", "http://h:1/v1"), ("https://x.ai/v1", "https://x.ai/v1")],
)
def test_normalize_base_url(raw: str, expected: str) -> None:
    assert normalize_base_url(raw) == expected


def test_bad_base_url_is_named() -> None:
    with pytest.raises(LLMConfigError, match="h:1"):
        normalize_base_url("h:1/v1")
