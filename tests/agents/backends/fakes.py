"""Scripted chat models for deterministic tests (never used by product code)."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import Field


class ScriptedChatModel(BaseChatModel):
    """Answers with the scripted replies in order and records every prompt it got.

    A reply that is an Exception instance is raised instead (a failing server).
    """

    replies: list[Any]
    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.prompts.append(list(messages))
        if not self.replies:
            raise AssertionError("the scripted model ran out of replies")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        text = reply if isinstance(reply, str) else json.dumps(reply)
        message = AIMessage(content=text, usage_metadata={
            "input_tokens": 10, "output_tokens": 5, "total_tokens": 15})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def prompt_text(self, index: int) -> str:
        return "\n".join(str(message.content) for message in self.prompts[index])


class StructuredScriptedChatModel(ScriptedChatModel):
    """Also supports ``with_structured_output(..., method="json_schema", include_raw=True)``
    the way ChatOpenAI does, recording the schemas it was asked for."""

    schemas: list[Any] = Field(default_factory=list)

    def with_structured_output(self, schema: Any, *, include_raw: bool = False,
                               **kwargs: Any) -> Runnable[Any, Any]:
        assert kwargs.get("method") == "json_schema"
        self.schemas.append(schema)

        def run(messages: Any) -> Any:
            raw = self.invoke(messages)
            try:
                parsed, error = json.loads(str(raw.content)), None
            except ValueError as problem:
                parsed, error = None, problem
            return {"raw": raw, "parsed": parsed, "parsing_error": error} if include_raw else parsed

        return RunnableLambda(run)
