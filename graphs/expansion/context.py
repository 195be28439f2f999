"""Run-time dependencies of the expansion graph (LangGraph ``context``), shared by all seeds."""

from __future__ import annotations

from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel

from looptool.agents.expander import EXPANDER_PROMPT
from looptool.agents.role_call import RoleBinding, RolePrompt
from looptool.graphs.expansion.settings import EddeSettings
from looptool.graphs.expansion.validator import RulesValidator, SampleValidator
from looptool.traces import TraceStore


@dataclass
class ExpansionContext:
    """Everything the expansion nodes need besides the state."""

    settings: EddeSettings
    generator: BaseChatModel
    validator: SampleValidator = field(default_factory=RulesValidator)
    traces: TraceStore | None = None
    prompt: RolePrompt = EXPANDER_PROMPT

    @classmethod
    def from_settings(
        cls,
        settings: EddeSettings,
        generator: BaseChatModel,
        *,
        validator: SampleValidator | None = None,
        traces: TraceStore | None = None,
    ) -> ExpansionContext:
        """A context with the settings' prompt override applied (rules-only validation by default)."""
        prompt = EXPANDER_PROMPT.with_override(settings.prompts.get("expander"))
        return cls(settings=settings, generator=generator, validator=validator or RulesValidator(),
                   traces=traces, prompt=prompt)

    def binding(self, trace_id: str) -> RoleBinding:
        return RoleBinding(
            model=self.generator,
            role=self.settings.role,
            trace_id=trace_id,
            traces=self.traces,
            structured_method=self.settings.structured_output,
            parse_retries=self.settings.parse_retries,
            sampling={"temperature": self.settings.temperature},
            record_prompts=self.settings.trace_prompts,
        )
