"""A scripted chat model for the loop agents' tests (tests only): each reply is a string, an
exception to raise, or a function of the prompt text; an optional delay simulates a slow
endpoint. Every prompt and the call's kwargs are recorded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

Reply = str | BaseException | Callable[[str], str]


class FakeChatModel(BaseChatModel):
    """Replies from ``replies`` in order (the last one repeats when ``repeat_last``)."""

    replies: list[Any]
    repeat_last: bool = False
    delay_s: float = 0.0
    _prompts: list[str] = PrivateAttr(default_factory=list)
    _kwargs: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fake"

    @property
    def prompts(self) -> list[str]:
        return self._prompts

    @property
    def call_kwargs(self) -> list[dict[str, Any]]:
        return self._kwargs

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> ChatResult:
        text = "\n".join(str(message.content) for message in messages)
        index = len(self._prompts)
        self._prompts.append(text)
        self._kwargs.append(dict(kwargs))
        if index >= len(self.replies) and not (self.repeat_last and self.replies):
            raise AssertionError(f"fake model: no reply scripted for call {index + 1}")
        reply = self.replies[min(index, len(self.replies) - 1)]
        if isinstance(reply, BaseException):
            raise reply
        content = reply(text) if callable(reply) else reply
        usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=content, usage_metadata=usage))])

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return self._reply(messages, kwargs)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: Any = None, **kwargs: Any) -> ChatResult:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self._reply(messages, kwargs)


def judge_json(correct: str, analysis: str = "checked") -> str:
    return json.dumps({"analysis": analysis, "correct": correct})
