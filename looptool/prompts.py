"""The tool-use prompt shared by training (GRPO prompts), probing, held-out evaluation and the
benchmarks' ``prompt_hermes`` mode.

Qwen3/Hermes style: the tool list goes into the system prompt as JSON inside
``<tools></tools>``; the model answers with ``<tool_call>`` blocks. Messages are converted
to plain chat dicts that any Hugging Face chat template (ChatML for SmolLM2) renders.
:func:`render_prompt` is the one renderer: preamble, date/time and, given a token counter,
truncation of the oldest turns.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from looptool.codecs import render_hermes
from looptool.schema import Message, Role, ToolSpec

HERMES_TOOL_INSTRUCTIONS = """# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tool_lines}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>

If several independent calls are needed, emit one <tool_call> block per call.
If no function fits, or a required parameter is missing from the conversation, answer in plain text instead (ask for what is missing)."""


def tool_system_prompt(tools: list[ToolSpec], preamble: str = "") -> str:
    """The system prompt that offers ``tools`` in Hermes format."""
    tool_lines = "\n".join(json.dumps(tool.to_openai(), ensure_ascii=False) for tool in tools)
    body = HERMES_TOOL_INSTRUCTIONS.format(tool_lines=tool_lines)
    return f"{preamble.strip()}\n\n{body}" if preamble.strip() else body


def message_to_chat(message: Message) -> dict[str, Any]:
    """One message as a chat-template dict; assistant tool calls become Hermes text and
    tool results become ``<tool_response>`` user turns (templates without a tool role)."""
    if message.role == Role.ASSISTANT:
        content = render_hermes(message.tool_calls, content=message.content) if message.tool_calls else message.content
        return {"role": "assistant", "content": content}
    if message.role == Role.TOOL:
        return {"role": "user", "content": f"<tool_response>\n{message.content}\n</tool_response>"}
    return {"role": message.role.value, "content": message.content}


def date_line(now: str) -> str:
    """How a conversation's date/time appears in the system prompt."""
    return f"Current date and time: {now}"


def chat_messages(
    tools: list[ToolSpec], context: list[Message], preamble: str = "", *, now: str | None = None
) -> list[dict[str, Any]]:
    """System prompt with the tools, then the context. A system message already in the
    context is folded into the tool prompt's preamble, followed by the date/time ``now``
    (a sample's :attr:`~looptool.schema.Sample.now`) when given."""
    system_parts = [preamble] if preamble else []
    rest: list[Message] = []
    for message in context:
        if message.role == Role.SYSTEM:
            system_parts.append(message.content)
        else:
            rest.append(message)
    if now:
        system_parts.append(date_line(now))
    system = tool_system_prompt(tools, "\n\n".join(part for part in system_parts if part))
    return [{"role": "system", "content": system}, *(message_to_chat(m) for m in rest)]


TokenCounter = Callable[[list[dict[str, Any]]], int]
"""Tokens of chat messages as the model will see them (chat template + generation prompt)."""


@dataclass(frozen=True)
class RenderedPrompt:
    """Chat messages for one request, and what truncation did to them."""

    messages: list[dict[str, Any]]
    tokens: int = 0
    dropped_messages: int = 0
    over_limit: bool = False


def _turn_starts(context: list[Message]) -> list[int]:
    """Indices of non-system messages where a turn begins (each user message; the first
    non-system message also starts one)."""
    starts: list[int] = []
    for index, message in enumerate(context):
        if message.role == Role.SYSTEM:
            continue
        if not starts or message.role == Role.USER:
            starts.append(index)
    return starts


def _last_user_index(context: list[Message]) -> int:
    for index in range(len(context) - 1, -1, -1):
        if context[index].role == Role.USER:
            return index
    return 0


def render_prompt(
    tools: list[ToolSpec],
    context: list[Message],
    *,
    preamble: str = "",
    now: str | None = None,
    count_tokens: TokenCounter | None = None,
    max_prompt_tokens: int | None = None,
) -> RenderedPrompt:
    """:func:`chat_messages`, and with ``count_tokens`` and ``max_prompt_tokens`` the oldest
    turns dropped while the prompt is too long (a turn = a user message and what follows it up
    to the next user message). The system prompt with the tools and everything from the last
    user message on always stay; a prompt still too long is marked ``over_limit``."""
    messages = chat_messages(tools, context, preamble, now=now)
    if count_tokens is None:
        return RenderedPrompt(messages)
    context = list(context)
    keep_from = _last_user_index(context)
    dropped = 0
    tokens = count_tokens(messages)
    while max_prompt_tokens is not None and tokens > max_prompt_tokens:
        starts = [i for i in _turn_starts(context) if i <= keep_from]
        if len(starts) < 2 and not (starts and starts[0] < keep_from):
            break  # only the protected part is left
        end = starts[1] if len(starts) > 1 else keep_from
        removable = {i for i in range(starts[0], end) if context[i].role != Role.SYSTEM}
        if not removable:
            break
        context = [m for i, m in enumerate(context) if i not in removable]
        dropped += len(removable)
        keep_from -= len(removable)
        messages = chat_messages(tools, context, preamble, now=now)
        tokens = count_tokens(messages)
    over = max_prompt_tokens is not None and tokens > max_prompt_tokens
    return RenderedPrompt(messages, tokens=tokens, dropped_messages=dropped, over_limit=over)
