"""The LLM client factory: chat models for the agent roles, over OpenAI-compatible servers.

Interface (what the other modules use)::

    from looptool.agents.llm import make_chat_model, OpenAICompatClient
    from looptool.agents.usage import UsageRecorder

    usage = UsageRecorder()
    judge = make_chat_model(config.roles.judge, usage=usage, role_name="judge")
    # or, from a whole recipe (empty base_urls fall back to the serve section's URL):
    judge = make_chat_model(config, "judge", usage=usage)

    reply = await judge.ainvoke([HumanMessage("...")])            # AIMessage
    verdict = judge.with_structured_output(Verdict, method="json_schema").invoke(messages)
    usage.summary()                                               # per-role tokens/latency

    client = OpenAICompatClient.for_role(config.roles.policy, role_name="policy", usage=usage)
    await client.models()                                         # served model names
    score = await client.continuation_logprobs(context_text, label_text)
    score.perplexity, score.token_logprobs                        # PPL of the label only
    await client.aclose()

``make_chat_model`` returns a real langchain-openai ``ChatOpenAI`` (so ``bind_tools``,
``with_structured_output``, ``ainvoke``, ``abatch`` all work) whose HTTP clients use a
:class:`BalancedTransport`:

* several ``base_urls`` per role are load-balanced: least requests in flight, ties broken
  round-robin;
* connection errors, timeouts, HTTP 429 and 5xx are retried on another endpoint with
  exponential backoff (``0.5 s * 2**attempt``, capped at 8 s, with jitter), at most
  ``role.max_retries`` times; the last error then reaches the caller as the usual
  ``openai.APIConnectionError`` / ``APITimeoutError`` / ``APIStatusError``;
* every attempt's prompt/completion tokens (from the response's ``usage``), latency and
  status go into the :class:`~agents.usage.UsageRecorder`.

The openai SDK's own retries are switched off so retries are not multiplied.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from looptool.agents.usage import UsageRecord, UsageRecorder
from looptool.config import LoopToolConfig, RoleSettings

log = logging.getLogger(__name__)

ROLE_NAMES = ("generator", "judge", "policy", "user_sim")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0


class LLMConfigError(ValueError):
    """A role cannot be turned into a client (no URL, unknown role); names the role."""


# --- endpoints and the balancing/retrying transport -------------------------------------------


@dataclass
class Endpoint:
    """One OpenAI-compatible base URL (ending in ``/v1``) and its live request count."""

    base_url: str
    in_flight: int = 0
    served: int = 0
    failures: int = 0


@dataclass
class EndpointPool:
    """Picks the endpoint with the fewest requests in flight; ties go round-robin."""

    endpoints: list[Endpoint]
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def of(cls, base_urls: Sequence[str]) -> EndpointPool:
        urls = [normalize_base_url(url) for url in base_urls]
        if not urls:
            raise LLMConfigError("no base URL given")
        return cls([Endpoint(url) for url in dict.fromkeys(urls)])

    def acquire(self, avoid: str | None = None) -> Endpoint:
        with self._lock:
            candidates = [item for item in self.endpoints if item.base_url != avoid] or self.endpoints
            start = next(self._turn) % len(candidates)
            rotated = candidates[start:] + candidates[:start]
            chosen = min(rotated, key=lambda item: item.in_flight)
            chosen.in_flight += 1
            return chosen

    def release(self, endpoint: Endpoint, *, ok: bool) -> None:
        with self._lock:
            endpoint.in_flight -= 1
            endpoint.served += 1
            if not ok:
                endpoint.failures += 1


def normalize_base_url(url: str) -> str:
    """Strip whitespace and trailing slashes; ``http://h:p`` gets ``/v1`` appended."""
    clean = url.strip().rstrip("/")
    if not clean.startswith(("http://", "https://")):
        raise LLMConfigError(f"base URL {url!r} must start with http:// or https://")
    if not clean.endswith("/v1") and "/v1/" not in clean + "/":
        clean += "/v1"
    return clean


def _root(base_url: str) -> str:
    """``http://h:p/v1`` -> ``http://h:p`` (where vLLM's /health and /tokenize live)."""
    return base_url.removesuffix("/v1")


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based), with +-25% jitter."""
    base = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    return base * random.uniform(0.75, 1.25)


@dataclass
class _Attempt:
    endpoint: Endpoint
    request: httpx.Request
    started: float


def _usage_of(body: bytes) -> tuple[int, int]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return 0, 0
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return 0, 0
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def _model_of(request: httpx.Request) -> str:
    try:
        data = json.loads(request.content or b"{}")
    except (ValueError, UnicodeDecodeError, httpx.RequestNotRead):
        return ""
    return str(data.get("model", "")) if isinstance(data, dict) else ""


def _is_stream(request: httpx.Request) -> bool:
    try:
        data = json.loads(request.content or b"{}")
    except (ValueError, UnicodeDecodeError, httpx.RequestNotRead):
        return False
    return isinstance(data, dict) and bool(data.get("stream"))


class BalancedTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport that routes each request to one of several base URLs, retries
    transient failures on another one, and records usage. Requests must be addressed to
    ``pool.endpoints[0].base_url``-prefixed URLs (the client's nominal base URL)."""

    def __init__(
        self,
        pool: EndpointPool,
        *,
        role_name: str,
        usage: UsageRecorder | None = None,
        max_retries: int = 3,
        sync_transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.pool = pool
        self.role_name = role_name
        self.usage = usage
        self.max_retries = max(0, max_retries)
        self._sync = sync_transport
        self._async = async_transport
        self._sleep = sleep

    @property
    def nominal_base_url(self) -> str:
        return self.pool.endpoints[0].base_url

    # -- request rewriting -------------------------------------------------------------------

    def _route(self, request: httpx.Request, endpoint: Endpoint) -> httpx.Request:
        url = str(request.url)
        nominal_root = _root(self.nominal_base_url)
        target = _root(endpoint.base_url) + url[len(nominal_root):] if url.startswith(nominal_root) else url
        headers = httpx.Headers(request.headers)
        headers.pop("host", None)
        headers.pop("content-length", None)
        headers["accept-encoding"] = "identity"  # so the body can be read for usage
        return httpx.Request(
            request.method,
            target,
            headers=headers,
            content=request.content,
            extensions=request.extensions,
        )

    def _path(self, request: httpx.Request) -> str:
        url = str(request.url)
        nominal_root = _root(self.nominal_base_url)
        return url[len(nominal_root):] if url.startswith(nominal_root) else request.url.path

    def _record(
        self,
        attempt: _Attempt,
        *,
        number: int,
        model: str,
        path: str,
        status: int | None,
        body: bytes | None,
        error: str | None,
    ) -> None:
        ok = error is None and status is not None and status < 400
        self.pool.release(attempt.endpoint, ok=ok)
        if self.usage is None:
            return
        prompt_tokens, completion_tokens = _usage_of(body) if body else (0, 0)
        self.usage.record(
            UsageRecord(
                role=self.role_name,
                model=model,
                base_url=attempt.endpoint.base_url,
                endpoint=path,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                latency_s=time.perf_counter() - attempt.started,
                status=status,
                ok=ok,
                error=error,
                attempt=number,
            )
        )

    def _should_retry(self, number: int, status: int | None) -> bool:
        return number <= self.max_retries and (status is None or status in RETRY_STATUSES)

    # -- sync ----------------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._sync is None:
            self._sync = httpx.HTTPTransport()
        request.read()
        model, path, stream = _model_of(request), self._path(request), _is_stream(request)
        avoid: str | None = None
        number = 0
        while True:
            number += 1
            attempt = _Attempt(self.pool.acquire(avoid), request, time.perf_counter())
            avoid = attempt.endpoint.base_url
            routed = self._route(request, attempt.endpoint)
            try:
                response = self._sync.handle_request(routed)
                if stream and response.status_code < 400:
                    self._record(attempt, number=number, model=model, path=path, status=response.status_code, body=None, error=None)
                    return response
                body = response.read()
                response.close()
            except httpx.TransportError as error:
                self._record(attempt, number=number, model=model, path=path, status=None, body=None, error=f"{type(error).__name__}: {error}")
                if not self._should_retry(number, None):
                    raise
                self._wait(number, f"{type(error).__name__} from {attempt.endpoint.base_url}")
                continue
            except BaseException:  # interrupted: give the slot back
                self.pool.release(attempt.endpoint, ok=False)
                raise
            status = response.status_code
            error_text = None if status < 400 else f"HTTP {status}"
            self._record(attempt, number=number, model=model, path=path, status=status, body=body, error=error_text)
            if status >= 400 and self._should_retry(number, status):
                self._wait(number, f"HTTP {status} from {attempt.endpoint.base_url}")
                continue
            return httpx.Response(status, headers=response.headers, content=body, extensions=response.extensions, request=request)

    def _wait(self, number: int, reason: str) -> None:
        delay = backoff_delay(number)
        log.warning("%s call failed (%s); retry %d/%d in %.1fs", self.role_name, reason, number, self.max_retries, delay)
        (self._sleep or time.sleep)(delay)

    # -- async ---------------------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._async is None:
            self._async = httpx.AsyncHTTPTransport()
        await request.aread()
        model, path, stream = _model_of(request), self._path(request), _is_stream(request)
        avoid: str | None = None
        number = 0
        while True:
            number += 1
            attempt = _Attempt(self.pool.acquire(avoid), request, time.perf_counter())
            avoid = attempt.endpoint.base_url
            routed = self._route(request, attempt.endpoint)
            try:
                response = await self._async.handle_async_request(routed)
                if stream and response.status_code < 400:
                    self._record(attempt, number=number, model=model, path=path, status=response.status_code, body=None, error=None)
                    return response
                body = await response.aread()
                await response.aclose()
            except httpx.TransportError as error:
                self._record(attempt, number=number, model=model, path=path, status=None, body=None, error=f"{type(error).__name__}: {error}")
                if not self._should_retry(number, None):
                    raise
                await self._await(number, f"{type(error).__name__} from {attempt.endpoint.base_url}")
                continue
            except BaseException:  # cancelled: give the slot back
                self.pool.release(attempt.endpoint, ok=False)
                raise
            status = response.status_code
            error_text = None if status < 400 else f"HTTP {status}"
            self._record(attempt, number=number, model=model, path=path, status=status, body=body, error=error_text)
            if status >= 400 and self._should_retry(number, status):
                await self._await(number, f"HTTP {status} from {attempt.endpoint.base_url}")
                continue
            return httpx.Response(status, headers=response.headers, content=body, extensions=response.extensions, request=request)

    async def _await(self, number: int, reason: str) -> None:
        delay = backoff_delay(number)
        log.warning("%s call failed (%s); retry %d/%d in %.1fs", self.role_name, reason, number, self.max_retries, delay)
        if self._sleep is not None:
            self._sleep(delay)
        else:
            await asyncio.sleep(delay)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()


# --- the factory --------------------------------------------------------------------------


def role_settings(config: LoopToolConfig, role_name: str) -> RoleSettings:
    """``config.roles.<role_name>`` with empty ``base_urls`` filled from the serve section."""
    if role_name not in ROLE_NAMES:
        raise LLMConfigError(f"unknown model role {role_name!r} (known: {', '.join(ROLE_NAMES)})")
    role: RoleSettings = getattr(config.roles, role_name)
    if role.base_urls:
        return role
    serve = config.serve
    host = "127.0.0.1" if serve.host in ("0.0.0.0", "::") else serve.host
    return role.model_copy(update={"base_urls": [f"http://{host}:{serve.port}/v1"]})


def _resolve(
    role: RoleSettings | LoopToolConfig, role_name: str | None
) -> tuple[RoleSettings, str]:
    if isinstance(role, LoopToolConfig):
        if role_name is None:
            raise LLMConfigError("make_chat_model(config, role_name): role_name is required")
        return role_settings(role, role_name), role_name
    if not role.base_urls:
        raise LLMConfigError(
            f"model role {role_name or 'model'!r} has no base_urls; set roles.<role>.base_urls "
            "or pass the whole config so the serve section's URL is used"
        )
    return role, role_name or "model"


def make_transport(
    role: RoleSettings, *, role_name: str, usage: UsageRecorder | None = None
) -> BalancedTransport:
    return BalancedTransport(
        EndpointPool.of(role.base_urls), role_name=role_name, usage=usage, max_retries=role.max_retries
    )


def make_chat_model(
    role: RoleSettings | LoopToolConfig,
    role_name: str | None = None,
    *,
    usage: UsageRecorder | None = None,
    **overrides: Any,
) -> ChatOpenAI:
    """A ``ChatOpenAI`` for one role, load-balanced over its base URLs, retrying, recording.

    ``role`` is a :class:`RoleSettings` (then ``role_name`` only labels the usage records) or a
    whole :class:`LoopToolConfig` plus the role's name. ``overrides`` go to ``ChatOpenAI``
    (e.g. ``temperature=0``, ``stop=[...]``, ``extra_body={...}``).
    """
    settings, name = _resolve(role, role_name)
    transport = make_transport(settings, role_name=name, usage=usage)
    sampling = settings.sampling
    kwargs: dict[str, Any] = {
        "model": settings.model,
        "base_url": transport.nominal_base_url,
        "api_key": settings.api_key,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
        "seed": sampling.seed,
        "timeout": settings.timeout_s,
        "max_retries": 0,
        "http_client": httpx.Client(transport=transport, timeout=settings.timeout_s),
        "http_async_client": httpx.AsyncClient(transport=transport, timeout=settings.timeout_s),
    }
    kwargs.update(overrides)
    return ChatOpenAI(**kwargs)


def make_role_models(
    config: LoopToolConfig, *, usage: UsageRecorder | None = None
) -> dict[str, ChatOpenAI]:
    """One chat model per role of the recipe."""
    return {name: make_chat_model(config, name, usage=usage) for name in ROLE_NAMES}


# --- raw OpenAI-compatible calls ChatOpenAI does not cover --------------------------------


class TokenLogprob(BaseModel):
    token_id: int
    token: str
    logprob: float


class ContinuationScore(BaseModel):
    """Log-probabilities of ``continuation`` tokens given ``context`` (teacher forcing)."""

    token_logprobs: list[TokenLogprob]

    @property
    def sum_logprob(self) -> float:
        return sum(item.logprob for item in self.token_logprobs)

    @property
    def mean_logprob(self) -> float:
        return self.sum_logprob / len(self.token_logprobs) if self.token_logprobs else 0.0

    @property
    def perplexity(self) -> float:
        """``exp(-mean log p)`` over the continuation's tokens."""
        return math.exp(-self.mean_logprob)


class CompletionResult(BaseModel):
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int


class OpenAICompatError(RuntimeError):
    """A server answered with an error or an unexpected body; the message says which."""


class OpenAICompatClient:
    """Async raw calls to an OpenAI-compatible (vLLM) server, through the same balancing,
    retrying, usage-recording transport as the chat models."""

    def __init__(self, transport: BalancedTransport, *, model: str, api_key: str = "EMPTY", timeout_s: float = 120.0) -> None:
        self.transport = transport
        self.model = model
        self.base_url = transport.nominal_base_url
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    @classmethod
    def for_role(
        cls,
        role: RoleSettings | LoopToolConfig,
        role_name: str | None = None,
        *,
        usage: UsageRecorder | None = None,
    ) -> OpenAICompatClient:
        settings, name = _resolve(role, role_name)
        transport = make_transport(settings, role_name=name, usage=usage)
        return cls(transport, model=settings.model, api_key=settings.api_key, timeout_s=settings.timeout_s)

    async def __aenter__(self) -> OpenAICompatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = await self._client.post(self.base_url + path, json=payload)
        if response.status_code >= 400:
            raise OpenAICompatError(f"POST {path} -> HTTP {response.status_code}: {response.text[:500]}")
        data = response.json()
        if not isinstance(data, dict):
            raise OpenAICompatError(f"POST {path}: expected a JSON object, got {type(data).__name__}")
        return data

    async def models(self) -> list[str]:
        """The served model names (including hot-loaded LoRA adapters)."""
        response = await self._client.get(self.base_url + "/models")
        if response.status_code >= 400:
            raise OpenAICompatError(f"GET /models -> HTTP {response.status_code}: {response.text[:300]}")
        return [str(item["id"]) for item in response.json().get("data", [])]

    async def tokenize(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        """Token ids of ``text`` with the served tokenizer (vLLM ``/tokenize``)."""
        root = _root(self.base_url)
        response = await self._client.post(
            root + "/tokenize",
            json={"model": self.model, "prompt": text, "add_special_tokens": add_special_tokens},
        )
        if response.status_code >= 400:
            raise OpenAICompatError(f"POST /tokenize -> HTTP {response.status_code}: {response.text[:300]}")
        return [int(token) for token in response.json()["tokens"]]

    async def tokenize_chat(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        add_generation_prompt: bool = True,
    ) -> list[int]:
        """Token ids of ``messages`` rendered by the served model's chat template."""
        root = _root(self.base_url)
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "add_generation_prompt": add_generation_prompt,
            "add_special_tokens": False,
        }
        if tools:
            payload["tools"] = tools
        response = await self._client.post(root + "/tokenize", json=payload)
        if response.status_code >= 400:
            raise OpenAICompatError(f"POST /tokenize -> HTTP {response.status_code}: {response.text[:300]}")
        return [int(token) for token in response.json()["tokens"]]

    async def health(self) -> bool:
        """Whether the server's ``/health`` answers 200."""
        try:
            response = await self._client.get(_root(self.base_url) + "/health")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def complete(self, prompt: str | list[int], *, max_tokens: int = 64, temperature: float = 0.0, **extra: Any) -> CompletionResult:
        """A plain ``/v1/completions`` call."""
        data = await self._post(
            "/completions",
            {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": temperature, **extra},
        )
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return CompletionResult(
            text=choice.get("text", ""),
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )

    async def prompt_logprobs(self, prompt: str | list[int]) -> list[TokenLogprob | None]:
        """Per-token log-probabilities of ``prompt`` itself (``None`` for the first token,
        which has no context), via ``/v1/completions`` with ``prompt_logprobs=0``."""
        data = await self._post(
            "/completions",
            {"model": self.model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0},
        )
        raw = data["choices"][0].get("prompt_logprobs")
        if raw is None:
            raise OpenAICompatError("server returned no prompt_logprobs (is it vLLM?)")
        ids = prompt if isinstance(prompt, list) else None
        result: list[TokenLogprob | None] = []
        for index, position in enumerate(raw):
            if not position:
                result.append(None)
                continue
            # with prompt_logprobs=0 a position holds the prompt token (and, in some versions,
            # the top-1 token too): take the prompt token's entry when the ids are known
            key = str(ids[index]) if ids is not None and index < len(ids) else next(iter(position))
            info = position.get(key) or next(iter(position.values()))
            token_id = int(key) if key in position else int(next(iter(position)))
            result.append(TokenLogprob(token_id=token_id, token=str(info.get("decoded_token") or ""), logprob=float(info["logprob"])))
        return result

    async def continuation_logprobs(self, context: str | list[int], continuation: str | list[int]) -> ContinuationScore:
        """Log-probabilities of ``continuation``'s tokens after ``context``.

        Both parts are tokenized separately (no special tokens added) and sent as one token
        list, so the continuation's positions are exact. Render chat contexts with the model's
        chat template first (e.g. ``looptool.prompts.chat_messages`` + the tokenizer).
        """
        context_ids = context if isinstance(context, list) else await self.tokenize(context)
        continuation_ids = continuation if isinstance(continuation, list) else await self.tokenize(continuation)
        if not continuation_ids:
            raise OpenAICompatError("continuation is empty")
        ids = list(context_ids) + list(continuation_ids)
        logprobs = await self.prompt_logprobs(ids)
        tail = logprobs[len(context_ids):]
        scored: list[TokenLogprob] = []
        for expected, item in zip(continuation_ids, tail, strict=True):
            if item is None:
                raise OpenAICompatError("the continuation's first token has no context to score it")
            if item.token_id != expected:
                raise OpenAICompatError(f"server scored token {item.token_id}, expected prompt token {expected}")
            scored.append(item)
        return ContinuationScore(token_logprobs=scored)
