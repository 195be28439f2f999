"""How every agent role calls its model: one traced call, optionally with structured output.

A role module (planner, user simulator, assistant, judge) builds its chat messages and calls
:func:`call_text` or :func:`call_structured` with a :class:`RoleBinding` (the chat model, the
role's name for the traces, the trace store and the trace id). Each model call is recorded
as one ``llm_call`` trace event: node, role, messages in, reply out, latency, token counts.

Structured output is requested the OpenAI way (``response_format`` with a JSON Schema;
vLLM enforces it with its grammar backend) and the reply is *parsed* with pydantic, never
``eval``-ed. A reply that does not parse is fed back with the validation error and asked
again, a bounded number of times, then :class:`RoleOutputError` is raised with the reason.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, convert_to_messages
from pydantic import BaseModel, ValidationError

from looptool.traces import EventKind, TokenUsage, TraceStore, usage_of, usage_of_error

ModelT = TypeVar("ModelT", bound=BaseModel)

StructuredMethod = Literal["json_schema", "json_object", "prompt"]

ChatDicts = list[dict[str, Any]]

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


class RoleOutputError(RuntimeError):
    """A role's model never produced a usable reply; the message says why."""


@dataclass
class RoleBinding:
    """A chat model bound to one role of one trace (dialogue or job)."""

    model: BaseChatModel
    role: str
    trace_id: str = ""
    traces: TraceStore | None = None
    structured_method: StructuredMethod = "json_schema"
    parse_retries: int = 1
    sampling: dict[str, Any] = field(default_factory=dict)
    record_prompts: bool = True  # store the messages sent with every traced call


def _as_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        )
    return str(content)


def _record(
    binding: RoleBinding,
    node: str,
    messages: ChatDicts,
    reply: AIMessage | None,
    started: float,
    extra: dict[str, Any],
    usage: TokenUsage | None = None,
) -> None:
    if binding.traces is None or not binding.trace_id:
        return
    data: dict[str, Any] = {"messages_in": messages, **extra} if binding.record_prompts else dict(extra)
    binding.traces.record(
        binding.trace_id,
        EventKind.LLM_CALL,
        node=node,
        role=binding.role,
        content=_as_text(reply.content) if reply is not None else "",
        data=data,
        started_at=started,
        usage=usage_of(reply) if reply is not None else usage,
    )


async def _invoke(binding: RoleBinding, messages: ChatDicts, **kwargs: Any) -> AIMessage:
    lc_messages: list[BaseMessage] = convert_to_messages(messages)
    runnable = binding.model.bind(**binding.sampling, **kwargs) if (binding.sampling or kwargs) else binding.model
    reply = await runnable.ainvoke(lc_messages)
    if not isinstance(reply, AIMessage):
        raise RoleOutputError(f"role {binding.role}: model returned {type(reply).__name__}, not a message")
    return reply


async def call_text(binding: RoleBinding, node: str, messages: ChatDicts) -> str:
    """One free-text model call, traced; returns the reply text."""
    started = time.time()
    try:
        reply = await _invoke(binding, messages)
    except Exception as error:
        _record(binding, node, messages, None, started, {"error": f"{type(error).__name__}: {error}"},
                usage=usage_of_error(error))
        raise
    _record(binding, node, messages, reply, started, {})
    return _as_text(reply.content)


def response_format_for(schema: type[BaseModel], method: StructuredMethod) -> dict[str, Any] | None:
    """The OpenAI ``response_format`` asking for ``schema`` (None for prompt-only)."""
    if method == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()},
        }
    if method == "json_object":
        return {"type": "json_object"}
    return None


def parse_json_object(text: str) -> dict[str, Any]:
    """The JSON object in a model reply (code fences and surrounding prose tolerated);
    raises ValueError saying what is wrong."""
    body = _FENCE.sub("", text.strip()).strip()
    if not body.startswith("{"):
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            raise ValueError("the reply contains no JSON object")
        body = body[start : end + 1]
    try:
        data = json.loads(body)
    except json.JSONDecodeError as error:
        raise ValueError(f"the reply is not valid JSON: {error.msg} at offset {error.pos}") from None
    if not isinstance(data, dict):
        raise ValueError("the reply is not a JSON object")
    return data


def parse_structured(text: str, schema: type[ModelT]) -> ModelT:
    """Parse a JSON reply (code fences tolerated) as ``schema``; raises ValueError."""
    data = parse_json_object(text)
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise ValueError(f"field '{where}': {first['msg']}") from None


async def call_structured(
    binding: RoleBinding, node: str, messages: ChatDicts, schema: type[ModelT]
) -> ModelT:
    """A model call whose reply must be a JSON object matching ``schema``.

    On a reply that does not parse, the error is appended to the conversation and the model
    asked again (``binding.parse_retries`` times); then :class:`RoleOutputError`.
    """
    response_format = response_format_for(schema, binding.structured_method)
    kwargs: dict[str, Any] = {"response_format": response_format} if response_format else {}
    conversation = list(messages)
    problem = ""
    for attempt in range(binding.parse_retries + 1):
        started = time.time()
        try:
            reply = await _invoke(binding, conversation, **kwargs)
        except Exception as error:
            _record(binding, node, conversation, None, started, {"error": f"{type(error).__name__}: {error}"},
                    usage=usage_of_error(error))
            if type(error).__name__ != "LengthFinishReasonError":
                raise
            # the structured reply ran into max_tokens: ask again, like any unusable reply
            problem = "the reply was cut off at the token limit; keep it short"
            conversation = [*messages, {"role": "user", "content": f"Your last reply was too long. "
                                        f"Answer with a short JSON object for {schema.__name__}."}]
            continue
        text = _as_text(reply.content)
        try:
            parsed = parse_structured(text, schema)
        except ValueError as error:
            problem = str(error)
            _record(binding, node, conversation, reply, started,
                    {"schema": schema.__name__, "attempt": attempt, "parse_error": problem})
            conversation = [
                *conversation,
                {"role": "assistant", "content": text},
                {
                    "role": "user",
                    "content": f"That reply was not usable: {problem}. Answer again with only a "
                    f"JSON object that matches the {schema.__name__} schema.",
                },
            ]
            continue
        _record(binding, node, conversation, reply, started,
                {"schema": schema.__name__, "attempt": attempt, "parsed": parsed.model_dump(mode="json")})
        return parsed
    raise RoleOutputError(
        f"role {binding.role} ({node}): no valid {schema.__name__} after "
        f"{binding.parse_retries + 1} attempt(s): {problem}"
    )


@dataclass(frozen=True)
class RolePrompt:
    """A versioned prompt template with ``$name`` placeholders (``string.Template``), so JSON
    braces in the text need no escaping. A config override replaces the text (and names its
    own version); :meth:`render` fails on a placeholder the caller did not supply."""

    name: str
    version: str
    text: str

    def with_override(self, text: str | None, version: str | None = None) -> RolePrompt:
        if not text:
            return self
        return RolePrompt(self.name, version or f"{self.version}+override", text)

    def render(self, **values: Any) -> str:
        from string import Template

        try:
            return Template(self.text).substitute({key: str(value) for key, value in values.items()})
        except KeyError as error:
            raise RoleOutputError(
                f"prompt {self.name} ({self.version}) uses placeholder ${error.args[0]}, "
                f"which is not one of: {', '.join(sorted(values))}"
            ) from None
        except ValueError as error:
            raise RoleOutputError(f"prompt {self.name} ({self.version}): {error}") from None


def describe_tools(tools: list[Any], *, max_description: int = 160) -> str:
    """A compact, one-line-per-tool listing: ``name(param: type*, ...): description``
    (``*`` marks required parameters). Accepts :class:`looptool.schema.ToolSpec`s."""
    lines = []
    for tool in tools:
        required = set(tool.required)
        params = ", ".join(
            f"{name}: {schema.get('type', 'any') if isinstance(schema, dict) else 'any'}"
            + ("*" if name in required else "")
            for name, schema in tool.properties.items()
        )
        description = " ".join(tool.description.split())[:max_description]
        lines.append(f"- {tool.name}({params}): {description}")
    return "\n".join(lines)
