"""The step judge (second stage of validation): is one assistant step consistent with the
user's request and the context before it? A structured verdict with a reason (reason first,
so the model argues before it decides).

It judges every step of a seed dialogue and the label step of a generated sample alike.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from looptool.agents.role_call import RoleBinding, RolePrompt, call_structured, describe_tools
from looptool.agents.user_sim import transcript
from looptool.codecs import render_hermes
from looptool.schema import Message, Role, ToolSpec

REASON_MAX_CHARS = 300

STEP_JUDGE_PROMPT = RolePrompt(
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


class StepJudgement(BaseModel):
    """The judge's verdict on one assistant step."""  # (the model sees this docstring)

    model_config = ConfigDict(extra="ignore")

    #: The step's index among the assistant messages: set by :func:`judge_step`, not part
    #: of the schema the model is asked to fill.
    step: SkipJsonSchema[int] = 0
    reason: str = Field(default="", max_length=REASON_MAX_CHARS, description="why, in one sentence")
    consistent: bool = Field(description="true when the step fits the request and context")


def unusable_verdict(step: int, problem: str) -> StepJudgement:
    """The judgement recorded when the judge never produced a usable verdict (a rejection)."""
    return StepJudgement(step=step, consistent=False,
                         reason=f"no usable verdict: {problem}"[:REASON_MAX_CHARS])


def describe_step(message: Message) -> str:
    """The assistant step as the judge reads it (Hermes blocks for calls)."""
    if message.tool_calls:
        return render_hermes(message.tool_calls, content=message.content)
    return message.content or "(empty reply)"


def describe_context(context: list[Message], now: str | None = None) -> str:
    """The conversation before the step: its date/time and system messages, then the turns."""
    setting = [f"(current date and time: {now})"] if now else []
    setting += [f"(system: {message.content})" for message in context
                if message.role == Role.SYSTEM and message.content]
    return "\n".join([*setting, transcript(context, max_chars=600, user_label="User", show_arguments=True)])


async def judge_step(
    binding: RoleBinding,
    tools: list[ToolSpec],
    context: list[Message],
    message: Message,
    *,
    step: int = 0,
    now: str | None = None,
    prompt: RolePrompt = STEP_JUDGE_PROMPT,
) -> StepJudgement:
    """The judge's verdict on the assistant ``message`` (step ``step``) given the ``context``
    before it; raises :class:`~looptool.agents.role_call.RoleOutputError` without a usable one."""
    text = prompt.render(
        tools=describe_tools(tools) or "(none)",
        context=describe_context(context, now),
        step=describe_step(message),
    )
    verdict = await call_structured(binding, "judge", [{"role": "user", "content": text}], StepJudgement)
    return verdict.model_copy(update={"step": step, "reason": verdict.reason.strip() or "(no reason given)"})
