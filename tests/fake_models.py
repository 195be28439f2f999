"""The scripted chat model every unit test uses in place of a served model (tests only).

In the manner of inspect_ai's ``mockllm``: :class:`ScriptedChatModel` is a LangChain
``BaseChatModel`` that answers from a script, so agents and graphs run deterministically.

- ``replies`` are used one per call, in order. A reply is a string (the message content), a
  dict or list (sent as its JSON text), an exception (raised, like a failing server) or a
  function of the :class:`ModelCall` returning one of those.
- ``repeat_last`` answers every call past the script with the last reply; otherwise running
  out of replies raises ``AssertionError`` naming the model.
- ``delay_s`` waits before answering (an ``asyncio`` sleep on the async path), for slow
  endpoints and timeouts.
- Every call is recorded in :attr:`ScriptedChatModel.calls`: the messages and the call's
  keyword arguments (``response_format``, sampling), whether it succeeded or not.
- Every reply carries ``usage`` as its usage metadata.
- Structured output works the two ways the agents ask for it: ``model.bind(response_format=...)``
  (``agents/role_call.py``: the reply is parsed by the caller) and
  ``model.with_structured_output(schema, method="json_schema", include_raw=...)`` the way
  ``ChatOpenAI`` does it (``agents/api_generator.py``, ``agents/backends/simulated.py``).
  ``structured_output=False`` makes ``with_structured_output`` raise ``NotImplementedError``
  as a model without that support does, for the callers' text fallback.

Concurrent calls are answered in the order they were made (no executor thread on the async
path; a lock on the sync one).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr


@dataclass(frozen=True)
class ModelCall:
    """One call the scripted model received."""

    messages: list[BaseMessage]
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The prompt as one text: every message's content, one per line."""
        return "\n".join(str(message.content) for message in self.messages)


Reply = str | dict[str, Any] | list[Any] | BaseException | Callable[[ModelCall], Any]
"""One scripted answer: text, a JSON value, an exception to raise, or a function of the call."""


def default_usage() -> UsageMetadata:
    """The token counts every scripted reply reports unless a test sets its own."""
    return UsageMetadata(input_tokens=10, output_tokens=5, total_tokens=15)


def _content(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value)
    raise TypeError(f"a scripted reply must be text or a JSON value, not {type(value).__name__}")


def _is_pydantic_model(schema: Any) -> bool:
    return isinstance(schema, type) and issubclass(schema, BaseModel)


def json_schema_format(schema: dict[str, Any] | type[BaseModel]) -> dict[str, Any]:
    """The OpenAI ``response_format`` that ``ChatOpenAI`` sends for ``method="json_schema"``."""
    if _is_pydantic_model(schema):
        assert isinstance(schema, type)
        return {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()}}
    assert isinstance(schema, dict)
    return {"type": "json_schema", "json_schema": {"name": schema.get("title", "output"), "schema": schema}}


class ScriptedChatModel(BaseChatModel):
    """A chat model that answers from ``replies`` and records every call (see the module)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    replies: list[Any] = Field(default_factory=list)
    repeat_last: bool = False
    delay_s: float = 0.0
    usage: UsageMetadata = Field(default_factory=default_usage)
    structured_output: bool = True
    _calls: list[ModelCall] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> list[ModelCall]:
        """Every call so far, in the order received."""
        return self._calls

    def _answer(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> ChatResult:
        call = ModelCall(messages=list(messages), kwargs=dict(kwargs))
        with self._lock:
            index = len(self._calls)
            self._calls.append(call)
        if index < len(self.replies):
            reply = self.replies[index]
        elif self.repeat_last and self.replies:
            reply = self.replies[-1]
        else:
            raise AssertionError(
                f"scripted model {self.name or 'scripted'}: no reply for call {index + 1} "
                f"({len(self.replies)} scripted)"
            )
        if callable(reply) and not isinstance(reply, BaseException):
            reply = reply(call)
        if isinstance(reply, BaseException):
            raise reply
        message = AIMessage(content=_content(reply), usage_metadata=self.usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay_s:
            time.sleep(self.delay_s)
        return self._answer(messages, kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self._answer(messages, kwargs)

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """``ChatOpenAI.with_structured_output(schema, method="json_schema", include_raw=...)``:
        the call carries the schema as ``response_format``; the reply is parsed as ``schema``
        (a pydantic model class, or a JSON Schema dict giving a dict)."""
        if not self.structured_output:
            raise NotImplementedError("with_structured_output is not implemented for this model.")
        method = kwargs.pop("method", "json_schema")
        if method != "json_schema" or kwargs:
            raise ValueError(f"the scripted model fakes only method='json_schema', not {method!r} with {kwargs}")
        bound = self.bind(response_format=json_schema_format(schema))

        def parse(raw: BaseMessage) -> Any:
            text = str(raw.content)
            return schema.model_validate_json(text) if _is_pydantic_model(schema) else json.loads(text)  # type: ignore[union-attr]

        def result(raw: BaseMessage) -> Any:
            if not include_raw:
                return parse(raw)
            try:
                return {"raw": raw, "parsed": parse(raw), "parsing_error": None}
            except ValueError as error:  # JSON and pydantic validation errors alike
                return {"raw": raw, "parsed": None, "parsing_error": error}

        def run(model_input: LanguageModelInput) -> Any:
            return result(bound.invoke(model_input))

        async def arun(model_input: LanguageModelInput) -> Any:
            return result(await bound.ainvoke(model_input))

        return RunnableLambda(run, afunc=arun)


def answering(reply: Reply, **options: Any) -> ScriptedChatModel:
    """A scripted model giving ``reply`` (typically a function of the call) to every call."""
    return ScriptedChatModel(replies=[reply], repeat_last=True, **options)
