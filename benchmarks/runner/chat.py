"""Talking to the model under test: request rendering per mode, reply decoding, HTTP client.

:func:`render_request` and :func:`decode_reply` are pure (unit-testable without a server);
:class:`OpenAIChatModel` sends them to an OpenAI-compatible ``/chat/completions`` endpoint
through the shared HTTP transport (:mod:`looptool.transport`: retries, usage records).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from looptool.benchmarks.base import EndpointError, EndpointMode, ModelEndpoint, ModelReply
from looptool.codecs import (
    ParseResult,
    decode_hermes_reply,
    parse_openai,
    parse_python,
    render_openai,
    render_python,
)
from looptool.prompts import message_to_chat, render_prompt
from looptool.schema import Message, Role, ToolSpec
from looptool.transport import RETRY_STATUSES, BalancedTransport, Endpoint, EndpointPool
from looptool.usage import UsageRecorder

PYTHON_TOOL_INSTRUCTIONS = """You are an expert in composing functions. You are given a question and a set of possible functions. Based on the question, you will need to make one or more function/tool calls to achieve the purpose.
If none of the functions can be used, point it out. If the given question lacks the parameters required by the function, also point it out.
You should only return the function calls in your response.

If you decide to invoke any of the function(s), you MUST put it in the format of [func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]
You SHOULD NOT include any other text in the response.

At each turn, you should try your best to complete the tasks requested by the user within the current turn. Continue to output functions to call until you have fulfilled the user's request to the best of your ability. Once you have no more functions to call, the system will consider the current turn complete and proceed to the next turn or task.

Here is a list of functions in JSON format that you can invoke.
{functions}
"""
"""BFCL's default prompt-mode system prompt (``DEFAULT_SYSTEM_PROMPT``), used by ``prompt_python``."""


_CONTEXT_LIMIT = re.compile(r"maximum context length is (\d+) tokens")
_PROMPT_TOKENS = re.compile(r"\((\d+) in the messages")


def exceeds_context(error: str) -> bool:
    """Whether a request error is the server refusing a prompt longer than the model's context."""
    return error.startswith("HTTP 400") and _CONTEXT_LIMIT.search(error) is not None


def fitted_max_tokens(error: str, asked: int) -> int | None:
    """When vLLM refuses a request because prompt + ``max_tokens`` exceed the context
    ("maximum context length is C tokens ... (P in the messages, ...)"), the ``max_tokens``
    that fits: ``C - P - 2`` as BFCL's local handlers compute it (at most what was asked).
    ``None`` when the error is another one or nothing fits (the prompt alone is too long)."""
    if not error.startswith("HTTP 400"):
        return None
    context, prompt = _CONTEXT_LIMIT.search(error), _PROMPT_TOKENS.search(error)
    if context is None or prompt is None:
        return None
    fitted = min(asked, int(context.group(1)) - int(prompt.group(1)) - 2)
    return fitted if 0 < fitted < asked else None


@dataclass(frozen=True)
class ChatRequest:
    """The body parts of one chat request: chat dicts and (function-calling mode) tools."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None


def python_tool_system_prompt(tools: list[ToolSpec], preamble: str = "") -> str:
    functions = json.dumps([tool.to_openai()["function"] for tool in tools], ensure_ascii=False, indent=1)
    body = PYTHON_TOOL_INSTRUCTIONS.format(functions=functions)
    return f"{preamble.strip()}\n\n{body}" if preamble.strip() else body


def _openai_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Native OpenAI chat messages; call ids are made up where missing and tool results
    without an id are paired with the preceding calls in order."""
    rendered: list[dict[str, Any]] = []
    pending_ids: list[str] = []
    for index, message in enumerate(messages):
        if message.role == Role.ASSISTANT and message.tool_calls:
            calls = [
                call if call.id else call.model_copy(update={"id": f"call_{index}_{number}"})
                for number, call in enumerate(message.tool_calls)
            ]
            pending_ids = [call.id or "" for call in calls]
            rendered.append(
                {"role": "assistant", "content": message.content or None, "tool_calls": render_openai(calls)}
            )
        elif message.role == Role.TOOL:
            call_id = message.tool_call_id or (pending_ids.pop(0) if pending_ids else f"call_{index}")
            item: dict[str, Any] = {"role": "tool", "tool_call_id": call_id, "content": message.content}
            if message.name:
                item["name"] = message.name
            rendered.append(item)
        else:
            rendered.append({"role": message.role.value, "content": message.content})
    return rendered


def _python_messages(messages: list[Message], tools: list[ToolSpec]) -> list[dict[str, Any]]:
    system_parts = [m.content for m in messages if m.role == Role.SYSTEM and m.content]
    rendered: list[dict[str, Any]] = [
        {"role": "system", "content": python_tool_system_prompt(tools, "\n\n".join(system_parts))}
    ]
    for message in messages:
        if message.role == Role.SYSTEM:
            continue
        if message.role == Role.ASSISTANT and message.tool_calls:
            text = render_python(message.tool_calls)
            content = f"{message.content}\n{text}" if message.content else text
            rendered.append({"role": "assistant", "content": content})
        else:
            rendered.append(message_to_chat(message))
    return rendered


def render_request(
    mode: EndpointMode, messages: list[Message], tools: list[ToolSpec], *, preamble: str = ""
) -> ChatRequest:
    """Render messages + tools for ``mode`` (see :class:`benchmarks.base.EndpointMode`).

    ``prompt_hermes`` uses :func:`looptool.prompts.render_prompt`, the renderer of training
    prompts, with the endpoint's ``preamble`` (a policy trained with a preamble is evaluated
    with it); benchmark prompts are never truncated."""
    if mode is EndpointMode.FUNCTION_CALLING:
        return ChatRequest(_openai_messages(messages), [tool.to_openai() for tool in tools] or None)
    if not tools:
        return ChatRequest([message_to_chat(message) for message in messages])
    if mode is EndpointMode.PROMPT_HERMES:
        return ChatRequest(render_prompt(tools, messages, preamble=preamble).messages)
    return ChatRequest(_python_messages(messages, tools))


def decode_reply(mode: EndpointMode, content: str | None, tool_calls: Any = None) -> ModelReply:
    """Decode one completion message into a :class:`ModelReply` (never raises: the codecs
    return errors as data, and non-text ``content`` from a server counts as no text)."""
    text = content if isinstance(content, str) else ""
    result: ParseResult
    if mode is EndpointMode.FUNCTION_CALLING:
        result = parse_openai(tool_calls)
        return ModelReply(
            text=text,
            raw=text,
            tool_calls=result.calls,
            parse_error=str(result.error) if result.error else None,
        )
    if mode is EndpointMode.PROMPT_HERMES:
        result = decode_hermes_reply(text)
        visible = result.content if result.ok else text
    else:
        result = parse_python(text)
        visible = "" if result.ok else text
    return ModelReply(
        text=visible,
        raw=text,
        tool_calls=result.calls,
        parse_error=str(result.error) if result.error else None,
    )


class OpenAIChatModel:
    """:class:`benchmarks.base.ChatModel` over HTTP (``POST {base_url}/chat/completions``).

    Use as an async context manager. Requests go through the shared
    :class:`~looptool.transport.BalancedTransport`: transport failures and the statuses in
    :data:`~looptool.transport.RETRY_STATUSES` are retried ``max_retries`` times with its
    backoff, then raise :class:`EndpointError`; other 4xx/5xx answers (e.g. prompt too long)
    become a :class:`ModelReply` with ``error`` set, scored as wrong. Every attempt is a
    record in ``usage`` (role ``eval:<label>``); ``requests`` counts the chat requests sent,
    retries included.
    """

    def __init__(self, endpoint: ModelEndpoint, *, usage: UsageRecorder | None = None) -> None:
        self.endpoint = endpoint
        self.usage = usage if usage is not None else UsageRecorder()
        self.role_name = f"eval:{endpoint.display_name}"
        self._client: httpx.AsyncClient | None = None

    @property
    def requests(self) -> int:
        """Chat-completion HTTP requests sent so far (retries included)."""
        return sum(record.endpoint.endswith("/chat/completions") for record in self.usage.records(self.role_name))

    def api_key(self) -> str:
        """``endpoint.api_key``, or the variable ``endpoint.api_key_env`` names."""
        name = self.endpoint.api_key_env
        if not name:
            return self.endpoint.api_key
        value = os.environ.get(name)
        if not value:
            raise EndpointError(f"environment variable {name} (eval model api_key_env) is not set")
        return value

    async def __aenter__(self) -> OpenAIChatModel:
        endpoint = self.endpoint
        limits = httpx.Limits(max_connections=endpoint.concurrency, max_keepalive_connections=endpoint.concurrency)
        transport = BalancedTransport(
            EndpointPool([Endpoint(endpoint.base_url)]),  # the URL as given: no /v1 appended
            role_name=self.role_name,
            usage=self.usage,
            max_retries=endpoint.max_retries,
            async_transport=httpx.AsyncHTTPTransport(limits=limits),
        )
        self._client = httpx.AsyncClient(
            transport=transport,
            base_url=endpoint.base_url,
            timeout=httpx.Timeout(endpoint.timeout_s, connect=min(10.0, endpoint.timeout_s)),
            headers={"Authorization": f"Bearer {self.api_key()}"},
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("OpenAIChatModel is used outside 'async with'")
        return self._client

    async def check(self) -> list[str]:
        """Fail early with a clear :class:`EndpointError` when the endpoint is unreachable or
        does not serve ``endpoint.model``; returns the served model names."""
        url = f"{self.endpoint.base_url}/models"
        try:
            response = await self.client.get("/models", timeout=min(10.0, self.endpoint.timeout_s))
        except httpx.HTTPError as error:
            raise EndpointError(
                f"cannot reach the model endpoint {url}: {type(error).__name__}: {error or 'no answer'}"
            ) from None
        if response.status_code != 200:
            raise EndpointError(f"model endpoint {url} answered HTTP {response.status_code}: {response.text[:200]}")
        try:
            names = [str(item.get("id")) for item in response.json().get("data", [])]
        except (ValueError, AttributeError):
            raise EndpointError(f"model endpoint {url} did not answer an OpenAI model list") from None
        if names and self.endpoint.model not in names:
            raise EndpointError(
                f"endpoint {self.endpoint.base_url} does not serve model {self.endpoint.model!r} "
                f"(it serves: {', '.join(names)})"
            )
        return names

    async def chat(self, messages: list[Message], tools: list[ToolSpec]) -> ModelReply:
        request = render_request(self.endpoint.mode, messages, tools, preamble=self.endpoint.preamble)
        return await self.chat_raw(request.messages, request.tools)

    async def chat_raw(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> ModelReply:
        endpoint = self.endpoint
        body: dict[str, Any] = {
            "model": endpoint.model,
            "messages": messages,
            "temperature": endpoint.sampling.temperature,
            "top_p": endpoint.sampling.top_p,
            "max_tokens": endpoint.sampling.max_tokens,
            **endpoint.extra_body,
        }
        if endpoint.sampling.seed is not None:
            body["seed"] = endpoint.sampling.seed
        if tools:
            body["tools"] = tools
            body.setdefault("tool_choice", "auto")
        started = time.perf_counter()
        data = await self._post(body)
        if isinstance(data, str):  # max_tokens past the context: ask for what fits, as BFCL does
            fitted = fitted_max_tokens(data, body["max_tokens"])
            if fitted is not None:
                data = await self._post({**body, "max_tokens": fitted})
        latency = time.perf_counter() - started
        if isinstance(data, str):
            return ModelReply(error=data, latency_s=latency)
        try:
            choice = data["choices"][0]
            message = choice.get("message") or {}
        except (KeyError, IndexError, TypeError):
            return ModelReply(error=f"malformed completion: {json.dumps(data)[:200]}", latency_s=latency)
        content = message.get("content")
        reply = decode_reply(endpoint.mode, content if isinstance(content, str) else None, message.get("tool_calls"))
        usage = data.get("usage") or {}
        return reply.model_copy(
            update={
                "finish_reason": choice.get("finish_reason"),
                "latency_s": latency,
                "prompt_tokens": int(usage.get("prompt_tokens") or 0),
                "completion_tokens": int(usage.get("completion_tokens") or 0),
            }
        )

    async def _post(self, body: dict[str, Any]) -> dict[str, Any] | str:
        """The decoded JSON answer, or an error string the model is blamed for."""
        try:
            response = await self.client.post("/chat/completions", json=body)
        except httpx.HTTPError as error:
            raise self._gave_up(f"{type(error).__name__}: {error or 'no answer'}") from None
        if response.status_code in RETRY_STATUSES:  # the transport's retries ran out
            raise self._gave_up(f"HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:500]}"
        try:
            data = response.json()
        except ValueError:
            return f"answer is not JSON: {response.text[:200]}"
        return data if isinstance(data, dict) else f"answer is not a JSON object: {response.text[:200]}"

    def _gave_up(self, last: str) -> EndpointError:
        attempts = self.endpoint.max_retries + 1
        return EndpointError(f"{self.endpoint.base_url}: {attempts} attempt(s) failed; last: {last}")
