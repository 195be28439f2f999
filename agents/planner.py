"""The Planner role: given the tools a dialogue will be about, plan the user's task.

The *code* samples the tool subset and the variety knobs (turns, parallel calls, persona,
whether the user holds back a detail); the *model* writes the concrete task, the steps and
the details the user knows (names, dates, numbers the tool arguments will need).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from looptool.agents.role_call import RoleBinding, RolePrompt, call_structured, describe_tools
from looptool.schema import Plan, ToolSpec

PLANNER_PROMPT = RolePrompt(
    name="planner",
    version="planner/v1",
    text="""You plan one realistic conversation between a user and an AI assistant that can call tools.

Tools the assistant has (* = required parameter):
$tools

Invent a concrete task a user would bring to this assistant. $call_hint
The conversation should take about $turns user message(s).
List the steps the assistant should take (which tool, with what), and the concrete details
the user knows and will tell the assistant (names, places, dates, numbers, file names: every
value a required parameter needs).

Answer with a JSON object: {"task": "...", "steps": ["..."], "user_details": ["..."]}""",
)

CALL_HINTS = {
    "single": "The task should need one tool call at a time.",
    "parallel": "The task should need several independent tool calls in the same step "
    "(for example the same tool for two different values).",
}


class PlanDraft(BaseModel):
    """The planner model's structured reply."""

    model_config = ConfigDict(extra="ignore")

    task: str = Field(min_length=3, max_length=240, description="the user's goal, one or two sentences")
    steps: list[Annotated[str, StringConstraints(max_length=120)]] = Field(
        default_factory=list, max_length=4, description="what the assistant should do"
    )
    user_details: list[Annotated[str, StringConstraints(max_length=100)]] = Field(
        default_factory=list, max_length=5, description="concrete values the user knows and will give"
    )


async def plan_task(
    binding: RoleBinding,
    tools: list[ToolSpec],
    *,
    turns: int,
    parallel: bool,
    prompt: RolePrompt = PLANNER_PROMPT,
) -> PlanDraft:
    """Ask the planner model for a task over ``tools``."""
    text = prompt.render(
        tools=describe_tools(tools),
        call_hint=CALL_HINTS["parallel" if parallel else "single"],
        turns=turns,
    )
    return await call_structured(binding, "planner", [{"role": "user", "content": text}], PlanDraft)


def to_plan(draft: PlanDraft, tools: list[ToolSpec], turns: int) -> Plan:
    """The kernel :class:`~looptool.schema.Plan` stored with the dialogue."""
    return Plan(task=draft.task.strip(), tool_names=[tool.name for tool in tools], turns=turns,
                steps=[step.strip() for step in draft.steps if step.strip()])
