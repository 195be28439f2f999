"""The Judge role for seed validation: is one assistant step consistent with the user's
request and the context? Structured verdict with a reason (reason first, so the model
argues before it decides)."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field

from looptool.agents.role_call import RoleBinding, RolePrompt, call_structured, describe_tools
from looptool.agents.user_sim import transcript
from looptool.codecs import render_hermes
from looptool.schema import Message, ToolSpec

JUDGE_PROMPT = RolePrompt(
    name="judge",
    version="judge/v1",
    text="""You check one step of an AI assistant that can call tools.

Tools offered (* = required parameter):
$tools

Conversation before the step:
$context

The assistant's step:
$step

Is the step consistent with what the user asked and with the conversation? It is NOT when it
calls a tool the request does not need, uses argument values that nobody mentioned, ignores
what the user asked, or calls a tool when none fits. Asking the user for a missing value is
consistent.

Answer with a JSON object with two keys: "reason" (why, in your own words) and
"consistent" (true or false).""",
)


class StepVerdict(BaseModel):
    """The judge's structured verdict on one assistant step."""

    model_config = ConfigDict(extra="ignore")

    reason: str = Field(default="", max_length=300, description="why, in one sentence")
    consistent: bool = Field(description="true when the step fits the request and context")


def describe_step(message: Message) -> str:
    """The assistant step as the judge reads it (Hermes blocks for calls)."""
    if message.tool_calls:
        return render_hermes(message.tool_calls, content=message.content)
    return message.content or "(empty reply)"


async def judge_step(
    binding: RoleBinding,
    tools: list[ToolSpec],
    context: list[Message],
    step: Message,
    *,
    prompt: RolePrompt = JUDGE_PROMPT,
) -> StepVerdict:
    """The judge's verdict on ``step`` given the ``context`` before it."""
    text = prompt.render(
        tools=describe_tools(tools) or "(none)",
        context=transcript(context, max_chars=600, user_label="User", show_arguments=True),
        step=describe_step(step),
    )
    return await call_structured(binding, "judge", [{"role": "user", "content": text}], StepVerdict)


def verdict_json(verdict: StepVerdict) -> str:
    return json.dumps(verdict.model_dump(mode="json"), ensure_ascii=False)
