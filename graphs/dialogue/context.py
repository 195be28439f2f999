"""Run-time dependencies of the dialogue graph (LangGraph ``context``), one per dialogue.

The models are shared by all dialogues of a run; the toolbox is created by the Planner node
for this dialogue's offered tools, so executable backends and the simulator keep their state
for exactly one dialogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel

from looptool.agents.assistant import ASSISTANT_PROMPT
from looptool.agents.backends.base import ToolRunner
from looptool.agents.planner import PLANNER_PROMPT
from looptool.agents.role_call import RoleBinding, RolePrompt
from looptool.agents.step_judge import STEP_JUDGE_PROMPT
from looptool.agents.tool_agent import SimulatorFactory
from looptool.agents.user_sim import USER_PROMPT
from looptool.graphs.dialogue.config import DialogueSynthSettings
from looptool.schema import ToolSpec
from looptool.traces import TraceStore


@dataclass(frozen=True)
class DialogueModels:
    """The chat model of each simulated role."""

    planner: BaseChatModel
    user: BaseChatModel
    assistant: BaseChatModel


@dataclass(frozen=True)
class DialoguePrompts:
    """The prompts in use (defaults, or the config's overrides)."""

    planner: RolePrompt = PLANNER_PROMPT
    user_sim: RolePrompt = USER_PROMPT
    assistant: RolePrompt = ASSISTANT_PROMPT
    judge: RolePrompt = STEP_JUDGE_PROMPT

    @classmethod
    def from_settings(cls, settings: DialogueSynthSettings) -> DialoguePrompts:
        overrides = settings.prompts
        return cls(
            planner=PLANNER_PROMPT.with_override(overrides.get("planner")),
            user_sim=USER_PROMPT.with_override(overrides.get("user_sim")),
            assistant=ASSISTANT_PROMPT.with_override(overrides.get("assistant")),
            judge=STEP_JUDGE_PROMPT.with_override(overrides.get("judge")),
        )

    def versions(self) -> dict[str, str]:
        return {prompt.name: prompt.version for prompt in (self.planner, self.user_sim, self.assistant, self.judge)}


@dataclass
class DialogueContext:
    """Everything the nodes need besides the state."""

    settings: DialogueSynthSettings
    library: list[ToolSpec]
    models: DialogueModels
    simulator_factory: SimulatorFactory | None = None
    executable_backends: bool = True
    traces: TraceStore | None = None
    prompts: DialoguePrompts = field(default_factory=DialoguePrompts)
    toolbox: ToolRunner | None = None  # set by the Planner node for this dialogue

    def binding(self, model: BaseChatModel, role: str, trace_id: str) -> RoleBinding:
        return RoleBinding(
            model=model,
            role=role,
            trace_id=trace_id,
            traces=self.traces,
            structured_method=self.settings.structured_output,
            parse_retries=self.settings.parse_retries,
            record_prompts=self.settings.trace_prompts,
        )
