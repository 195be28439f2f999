"""The simulated User role: opens the conversation, answers questions, supplies missing
details, and says when the task is done.

The user model sees the task, the details it knows, its persona and the conversation so far
(the assistant's replies and, briefly, which tools were called and what came back). It
answers with a structured :class:`UserTurn`.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field

from looptool.agents.role_call import RoleBinding, RolePrompt, call_structured
from looptool.schema import Message, Role

USER_PROMPT = RolePrompt(
    name="user_sim",
    version="user_sim/v2",
    text="""You write the next message of a USER who talks to an AI assistant.
The user wants: $task
The user knows: $details
The user's style: $persona

$instruction
Write as the user, in the first person ("I", "my"), never as the assistant.
Answer with a JSON object with two keys: "message" (the user's words) and "done" (true only
when the assistant has finished the task, else false).""",
)

OPENING_INSTRUCTION = "Write the user's first message, asking the assistant for this. {withhold}"
WITHHOLD_HINT = "Leave out one of the details, so the assistant has to ask for it."
FULL_HINT = "Give the details the assistant needs."
FOLLOW_UP_INSTRUCTION = """The conversation so far:
{transcript}

Write the user's next message. If the assistant asked something, answer it with the details the
user knows. If the task is finished, thank the assistant and set "done" to true."""


class UserTurn(BaseModel):
    """The user model's structured reply."""

    model_config = ConfigDict(extra="ignore")

    message: str = Field(min_length=1, max_length=400, description="the user's next message")
    done: bool = Field(default=False, description="true when the task is finished")


def transcript(
    messages: list[Message], *, max_chars: int = 300, user_label: str = "User",
    show_arguments: bool = False,
) -> str:
    """The dialogue as text: user and assistant turns, tool calls (in brief unless
    ``show_arguments``) and tool results."""
    lines: list[str] = []
    for message in messages:
        if message.role == Role.USER:
            lines.append(f"{user_label}: {message.content}")
        elif message.role == Role.ASSISTANT:
            if message.tool_calls:
                calls = ", ".join(
                    f"{call.name}({json.dumps(call.arguments, ensure_ascii=False)})"
                    if show_arguments else call.name
                    for call in message.tool_calls
                )
                lines.append(f"Assistant: (calls tools: {calls})")
            if message.content:
                lines.append(f"Assistant: {message.content[:max_chars]}")
        elif message.role == Role.TOOL:
            lines.append(f"(tool {message.name or ''} answered: {message.content[:max_chars]})")
    return "\n".join(lines) or "(nothing yet)"


async def user_turn(
    binding: RoleBinding,
    *,
    task: str,
    details: list[str],
    persona: str,
    messages: list[Message],
    withhold_detail: bool,
    prompt: RolePrompt = USER_PROMPT,
) -> UserTurn:
    """The next user message (the opening one when ``messages`` has no user turn yet)."""
    opening = not any(message.role == Role.USER for message in messages)
    instruction = (
        OPENING_INSTRUCTION.format(withhold=WITHHOLD_HINT if withhold_detail else FULL_HINT)
        if opening
        else FOLLOW_UP_INSTRUCTION.format(transcript=transcript(messages))
    )
    text = prompt.render(
        persona=persona,
        task=task,
        details="; ".join(details) if details else "(none in particular)",
        instruction=instruction,
    )
    turn = await call_structured(binding, "user", [{"role": "user", "content": text}], UserTurn)
    if opening:  # the opening message never ends the dialogue
        turn = turn.model_copy(update={"done": False})
    return turn
