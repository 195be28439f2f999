"""The Assistant role: answers with Hermes ``<tool_call>`` blocks or with text.

It sees exactly what a trained policy will see: the shared Hermes tool system prompt
(:func:`looptool.prompts.chat_messages`) plus a short preamble (versioned, overridable) that
asks it to ask for missing required values instead of inventing them, and shows the call
format once (the embedded model needs one example to produce valid JSON calls). Its reply is
parsed with :func:`looptool.codecs.parse_hermes`; an unparseable reply is sampled again a
bounded number of times, then returned with the parse error. A one-turn demonstration
(:func:`demo_exchange`) precedes the conversation unless switched off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from looptool.agents.role_call import RoleBinding, RolePrompt, call_text
from looptool.codecs import ParseResult, parse_hermes, render_hermes
from looptool.prompts import chat_messages
from looptool.schema import Message, Role, ToolCall, ToolSpec

ASSISTANT_PROMPT = RolePrompt(
    name="assistant",
    version="assistant/v2",
    text="""You are a helpful assistant that can call tools.
Call a tool only when it fits the user's request, with argument values the user gave or that
earlier tool results contain. If a required value is missing, ask the user for it instead of
guessing. If no tool fits, answer in plain text. $parallel_hint
Example of the call format:
$example""",
)

PARALLEL_HINTS = {
    True: "When the user asks for several independent things, emit one <tool_call> block for each.",
    False: "",
}


@dataclass
class AssistantStep:
    """What the assistant did in one step: tool calls, text, or a parse failure."""

    message: Message
    raw: str
    attempts: int = 1
    parse_error: str | None = None
    failed_raw: list[str] = field(default_factory=list)

    @property
    def calls(self) -> list[ToolCall]:
        return self.message.tool_calls


def example_call(tools: list[ToolSpec]) -> str:
    """One format example built from the first offered tool (values are placeholders)."""
    if not tools:
        return "(no tools are offered: answer in plain text)"
    tool = tools[0]
    arguments = {name: f"<{name}>" for name in tool.required[:2]}
    body = json.dumps({"name": tool.name, "arguments": arguments}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


def _example_value(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return "example"
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((item for item in kind if item != "null"), "string")
    return {"integer": 5, "number": 5, "boolean": True, "array": [], "object": {}}.get(str(kind), "example")


def demo_exchange(tools: list[ToolSpec]) -> list[dict[str, str]]:
    """A one-turn demonstration before the real conversation: an ``(example)`` user turn and a
    Hermes call of the first offered tool with example values. Small models (SmolLM2-135M)
    almost never call a tool without it; it is part of the generator's prompt only, never of
    a sample's context."""
    if not tools:
        return []
    tool = tools[0]
    arguments = {name: _example_value(tool.properties.get(name)) for name in tool.required}
    call = ToolCall(name=tool.name, arguments=arguments)
    return [
        {"role": "user", "content": f"(example) Use the {tool.name} tool."},
        {"role": "assistant", "content": render_hermes([call])},
    ]


def assistant_messages(
    tools: list[ToolSpec],
    context: list[Message],
    *,
    parallel: bool,
    prompt: RolePrompt = ASSISTANT_PROMPT,
    demo: bool = True,
) -> list[dict[str, str]]:
    """The chat messages the assistant model gets: the system prompt with the tools, the
    demonstration turn (``demo``), then the conversation."""
    preamble = prompt.render(parallel_hint=PARALLEL_HINTS[parallel], example=example_call(tools))
    rendered = [
        {"role": str(item["role"]), "content": str(item["content"])}
        for item in chat_messages(tools, context, preamble)
    ]
    return [rendered[0], *(demo_exchange(tools) if demo else []), *rendered[1:]]


def _to_message(parsed: ParseResult, step: int) -> Message:
    calls = [
        call.model_copy(update={"id": f"call_{step}_{index}"})
        for index, call in enumerate(parsed.calls)
    ]
    return Message(role=Role.ASSISTANT, content=parsed.content, tool_calls=calls,
                   reasoning=parsed.reasoning)


async def assistant_step(
    binding: RoleBinding,
    tools: list[ToolSpec],
    context: list[Message],
    *,
    step: int,
    parallel: bool,
    retries: int = 1,
    prompt: RolePrompt = ASSISTANT_PROMPT,
    demo: bool = True,
) -> AssistantStep:
    """One assistant turn. A reply whose ``<tool_call>`` blocks do not parse is sampled
    again up to ``retries`` times; after that the step carries ``parse_error``."""
    messages = assistant_messages(tools, context, parallel=parallel, prompt=prompt, demo=demo)
    failed: list[str] = []
    error = ""
    for attempt in range(retries + 1):
        raw = await call_text(binding, "assistant", messages)
        parsed = parse_hermes(raw, allow_trailing_text=True)
        if parsed.ok:
            return AssistantStep(message=_to_message(parsed, step), raw=raw, attempts=attempt + 1,
                                 failed_raw=failed)
        error = str(parsed.error)
        failed.append(raw)
    return AssistantStep(
        message=Message(role=Role.ASSISTANT, content=failed[-1].strip()),
        raw=failed[-1],
        attempts=retries + 1,
        parse_error=error,
        failed_raw=failed,
    )
