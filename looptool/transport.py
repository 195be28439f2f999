"""One HTTP transport for every OpenAI-compatible call: load balancing, retries, usage.

:class:`BalancedTransport` is an httpx transport (sync and async). Give it to an
``httpx.Client``/``httpx.AsyncClient`` (or to ``ChatOpenAI`` through them) whose requests
are addressed to the pool's first base URL::

    transport = BalancedTransport.for_role(config.roles.judge, role_name="judge", usage=usage)
    client = httpx.AsyncClient(transport=transport, base_url=transport.nominal_base_url)

* several base URLs are load-balanced: least requests in flight, ties broken round-robin;
* connection errors, timeouts and the statuses in :data:`RETRY_STATUSES` are retried on
  another endpoint (the same one when there is only one) with exponential backoff
  (:func:`backoff_delay`: ``0.5 s * 2**(retry-1)``, capped at 8 s, +-25% jitter), at most
  ``max_retries`` times; then the last transport error is raised, or the last error
  response is returned, to the caller;
* every attempt's prompt/completion tokens (from the response's ``usage``), latency and
  status go into the :class:`~looptool.usage.UsageRecorder`.

The retry loop is written once (:meth:`BalancedTransport._exchange`, a generator that says
what to send and how long to wait); the sync and async entry points only do the I/O.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

import httpx

from looptool.config import RoleSettings
from looptool.usage import UsageRecord, UsageRecorder

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""HTTP statuses worth another try: request timeout, rate limit, transient server errors."""
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0


class LLMConfigError(ValueError):
    """A model endpoint cannot be set up (bad or missing URL, unknown role); names the problem."""


# --- endpoints ------------------------------------------------------------------------------


@dataclass
class Endpoint:
    """One OpenAI-compatible base URL (usually ending in ``/v1``) and its live request count."""

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
        """A pool over ``base_urls`` (normalized, duplicates dropped)."""
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


def server_root(base_url: str) -> str:
    """``http://h:p/v1`` -> ``http://h:p`` (where vLLM's /health and /tokenize live)."""
    return base_url.removesuffix("/v1")


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based), with +-25% jitter."""
    base = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    return base * random.uniform(0.75, 1.25)


# --- what one request is and what one attempt gave -------------------------------------------


@dataclass(frozen=True)
class _RequestInfo:
    """What the usage records need from a request body."""

    model: str
    stream: bool

    @classmethod
    def of(cls, request: httpx.Request) -> _RequestInfo:
        try:
            data = json.loads(request.content or b"{}")
        except (ValueError, UnicodeDecodeError, httpx.RequestNotRead):
            return cls(model="", stream=False)
        if not isinstance(data, dict):
            return cls(model="", stream=False)
        return cls(model=str(data.get("model", "")), stream=bool(data.get("stream")))


@dataclass(frozen=True)
class _TokenCounts:
    prompt: int = 0
    completion: int = 0

    @classmethod
    def of(cls, body: bytes | None) -> _TokenCounts:
        """The ``usage`` of an OpenAI answer body (zeros when there is none)."""
        try:
            data = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            return cls()
        usage = data.get("usage") if isinstance(data, dict) else None
        if not isinstance(usage, dict):
            return cls()
        return cls(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


@dataclass(frozen=True)
class _Send:
    """Step of an exchange: send this request (``stream``: return it unread when it succeeds)."""

    request: httpx.Request
    stream: bool


@dataclass(frozen=True)
class _Wait:
    """Step of an exchange: sleep this long before the next attempt."""

    seconds: float


@dataclass(frozen=True)
class _Outcome:
    """What one attempt gave: an answer (``body`` is None for an unread stream) or an error."""

    response: httpx.Response | None = None
    body: bytes | None = None
    error: httpx.TransportError | None = None


_Exchange = Generator[_Send | _Wait, _Outcome | None, httpx.Response]


def _advance(exchange: _Exchange, outcome: _Outcome | None) -> _Send | _Wait | httpx.Response:
    """Feed an attempt's outcome (None after a wait) to the exchange: its next step or its answer."""
    try:
        return exchange.send(outcome)
    except StopIteration as done:
        answer: httpx.Response = done.value
        return answer


# --- the transport ----------------------------------------------------------------------------


class BalancedTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport that routes each request to one of several base URLs, retries
    transient failures on another one, and records usage. Requests must be addressed to
    :attr:`nominal_base_url`-prefixed URLs (the client's nominal base URL)."""

    def __init__(
        self,
        pool: EndpointPool,
        *,
        role_name: str,
        usage: UsageRecorder | None = None,
        max_retries: int = 3,
        sync_transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.pool = pool
        self.role_name = role_name
        self.usage = usage
        self.max_retries = max(0, max_retries)
        self._sync = sync_transport
        self._async = async_transport

    @classmethod
    def for_role(
        cls, role: RoleSettings, *, role_name: str, usage: UsageRecorder | None = None
    ) -> BalancedTransport:
        """A transport over ``role.base_urls`` with ``role.max_retries``."""
        return cls(EndpointPool.of(role.base_urls), role_name=role_name, usage=usage, max_retries=role.max_retries)

    @property
    def nominal_base_url(self) -> str:
        return self.pool.endpoints[0].base_url

    # -- request rewriting -------------------------------------------------------------------

    def _route(self, request: httpx.Request, endpoint: Endpoint) -> httpx.Request:
        url = str(request.url)
        nominal_root = server_root(self.nominal_base_url)
        target = server_root(endpoint.base_url) + url[len(nominal_root):] if url.startswith(nominal_root) else url
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
        nominal_root = server_root(self.nominal_base_url)
        return url[len(nominal_root):] if url.startswith(nominal_root) else request.url.path

    # -- the retry loop, once --------------------------------------------------------------------

    def _exchange(self, request: httpx.Request) -> _Exchange:
        """Attempts until one answers, is not worth retrying, or retries run out.

        Yields :class:`_Send` (answer it with the :class:`_Outcome`) and :class:`_Wait` steps;
        returns the response, or raises the last transport error."""
        info, path = _RequestInfo.of(request), self._path(request)
        avoid: str | None = None
        number = 0
        while True:
            number += 1
            endpoint = self.pool.acquire(avoid)
            avoid = endpoint.base_url
            started = time.perf_counter()
            try:
                outcome = yield _Send(self._route(request, endpoint), info.stream)
            except BaseException:  # interrupted or cancelled: give the slot back
                self.pool.release(endpoint, ok=False)
                raise
            assert outcome is not None
            response, error = outcome.response, outcome.error
            status = response.status_code if response is not None else None
            if error is not None:
                error_text: str | None = f"{type(error).__name__}: {error}"
            else:
                error_text = None if status is not None and status < 400 else f"HTTP {status}"
            self._record(
                endpoint, info, path, number=number, started=started, status=status, body=outcome.body, error=error_text
            )
            retry = number <= self.max_retries and (status is None or status in RETRY_STATUSES)
            if error is not None and not retry:
                raise error
            if response is not None and (error_text is None or not retry):
                if outcome.body is None:  # a successful stream, returned unread
                    return response
                return httpx.Response(
                    response.status_code,
                    headers=response.headers,
                    content=outcome.body,
                    extensions=response.extensions,
                    request=request,
                )
            reason = f"{type(error).__name__}" if error is not None else f"HTTP {status}"
            delay = backoff_delay(number)
            log.warning(
                "%s call failed (%s from %s); retry %d/%d in %.1fs",
                self.role_name, reason, endpoint.base_url, number, self.max_retries, delay,
            )
            yield _Wait(delay)

    def _record(
        self,
        endpoint: Endpoint,
        info: _RequestInfo,
        path: str,
        *,
        number: int,
        started: float,
        status: int | None,
        body: bytes | None,
        error: str | None,
    ) -> None:
        ok = error is None
        self.pool.release(endpoint, ok=ok)
        if self.usage is None:
            return
        tokens = _TokenCounts.of(body)
        self.usage.record(
            UsageRecord(
                role=self.role_name,
                model=info.model,
                base_url=endpoint.base_url,
                endpoint=path,
                prompt_tokens=tokens.prompt,
                completion_tokens=tokens.completion,
                latency_s=time.perf_counter() - started,
                status=status,
                ok=ok,
                error=error,
                attempt=number,
            )
        )

    # -- sync I/O ------------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        exchange = self._exchange(request)
        step: _Send | _Wait | httpx.Response = next(exchange)
        while not isinstance(step, httpx.Response):
            try:
                outcome = self._take(step)
            except BaseException:
                exchange.close()
                raise
            step = _advance(exchange, outcome)
        return step

    def _take(self, step: _Send | _Wait) -> _Outcome | None:
        """Do one step: sleep (None), or send and say what came back."""
        if isinstance(step, _Wait):
            time.sleep(step.seconds)
            return None
        if self._sync is None:
            self._sync = httpx.HTTPTransport()
        try:
            response = self._sync.handle_request(step.request)
            if step.stream and response.status_code < 400:
                return _Outcome(response=response)
            body = response.read()
            response.close()
        except httpx.TransportError as error:
            return _Outcome(error=error)
        return _Outcome(response=response, body=body)

    # -- async I/O -----------------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        exchange = self._exchange(request)
        step: _Send | _Wait | httpx.Response = next(exchange)
        while not isinstance(step, httpx.Response):
            try:
                outcome = await self._atake(step)
            except BaseException:
                exchange.close()
                raise
            step = _advance(exchange, outcome)
        return step

    async def _atake(self, step: _Send | _Wait) -> _Outcome | None:
        """Do one step: sleep (None), or send and say what came back."""
        if isinstance(step, _Wait):
            await asyncio.sleep(step.seconds)
            return None
        if self._async is None:
            self._async = httpx.AsyncHTTPTransport()
        try:
            response = await self._async.handle_async_request(step.request)
            if step.stream and response.status_code < 400:
                return _Outcome(response=response)
            body = await response.aread()
            await response.aclose()
        except httpx.TransportError as error:
            return _Outcome(error=error)
        return _Outcome(response=response, body=body)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
