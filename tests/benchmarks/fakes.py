"""A scripted model under test for the benchmark tests (unit tests only, never product code).

It implements the benchmarks' own :class:`looptool.benchmarks.base.ChatModel` protocol
(``endpoint``, ``chat(messages, tools)``, ``chat_raw``, replies decoded per endpoint mode into a
:class:`ModelReply`), not LangChain's ``BaseChatModel``: for a LangChain model use
``tests.fake_models``, for the HTTP path ``tests.fake_openai_server``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from looptool.benchmarks.base import EndpointMode, ModelEndpoint, ModelReply
from looptool.benchmarks.runner.chat import decode_reply, render_request
from looptool.schema import Message, ToolSpec

Responder = Callable[[list[dict[str, Any]], list[dict[str, Any]] | None], str | ModelReply]


class ScriptedBenchmarkModel:
    """A :class:`benchmarks.base.ChatModel` whose replies come from a script.

    ``script`` is either a list of replies (consumed in order, the last one repeated) or a
    function ``(rendered_messages, openai_tools) -> reply``. A reply is a raw completion
    string (decoded in ``mode`` exactly like the HTTP client does) or a ready
    :class:`ModelReply`. Every request is recorded in ``requests``.
    """

    def __init__(
        self,
        script: list[str | ModelReply] | Responder,
        mode: EndpointMode = EndpointMode.PROMPT_HERMES,
    ) -> None:
        self.endpoint = ModelEndpoint(label="scripted", model="scripted", mode=mode)
        self.script = script
        self.requests: list[list[dict[str, Any]]] = []

    async def chat(self, messages: list[Message], tools: list[ToolSpec]) -> ModelReply:
        request = render_request(self.endpoint.mode, messages, tools)
        return await self.chat_raw(request.messages, request.tools)

    async def chat_raw(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> ModelReply:
        self.requests.append(messages)
        if callable(self.script):
            reply = self.script(messages, tools)
        else:
            reply = self.script[min(len(self.requests), len(self.script)) - 1]
        if isinstance(reply, ModelReply):
            return reply
        return decode_reply(self.endpoint.mode, reply)
