"""The tool-use prompt shared by training (GRPO prompts) and the benchmarks' prompt mode.

Qwen3/Hermes style: the tool list goes into the system prompt as JSON inside
``<tools></tools>``; the model answers with ``<tool_call>`` blocks. Messages are converted
to plain chat dicts that any Hugging Face chat template (ChatML for SmolLM2) renders.
"""

from __future__ import annotations

import json
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
