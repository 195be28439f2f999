"""Run-time dependencies of the judging graph (LangGraph ``context``), shared by all items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel

from looptool.agents.backends.registry import BackendRegistry
from looptool.agents.label_judge import LABEL_JUDGE_PROMPT
from looptool.agents.role_call import RoleBinding, RolePrompt
from looptool.graphs.judging.settings import JglvSettings, PanelSeat
from looptool.traces import TraceStore


@dataclass(frozen=True)
class PanelJudge:
    """A panel seat bound to its chat model."""

    seat: PanelSeat
    model: BaseChatModel


def build_panel(settings: JglvSettings, models: Mapping[str, BaseChatModel]) -> list[PanelJudge]:
    """The panel's seats (``settings.seats()``) with the chat model of each seat's role."""
    missing = sorted({seat.role for seat in settings.seats() if seat.role not in models})
    if missing:
        raise ValueError(f"no chat model for judge role(s) {missing} (given: {sorted(models)})")
    return [PanelJudge(seat=seat, model=models[seat.role]) for seat in settings.seats()]


@dataclass
class JudgingContext:
    """Everything the judging nodes need besides the state."""

    settings: JglvSettings
    panel: list[PanelJudge]
    traces: TraceStore | None = None
    prompt: RolePrompt = LABEL_JUDGE_PROMPT
    registry: BackendRegistry | None = None  # executable backends (default: the global registry)
    scenarios: dict[str, dict[str, Any]] | None = None  # initial backend states by backend name
    _by_seat: dict[str, PanelJudge] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.panel:
            raise ValueError("the judge panel is empty: configure at least one judge (jglv.judges)")
        self._by_seat = {judge.seat.name: judge for judge in self.panel}
        if len(self._by_seat) != len(self.panel):
            raise ValueError("panel seat names must be unique")

    @classmethod
    def from_settings(
        cls,
        settings: JglvSettings,
        judges: Mapping[str, BaseChatModel] | Sequence[PanelJudge],
        **kwargs: Any,
    ) -> JudgingContext:
        """A context for ``settings`` with its prompt override applied. ``judges`` is the chat
        model of each role (the panel is built from the settings) or the panel itself."""
        panel = build_panel(settings, judges) if isinstance(judges, Mapping) else list(judges)
        prompt = LABEL_JUDGE_PROMPT.with_override(settings.prompts.get("label_judge"))
        return cls(settings=settings, panel=panel, prompt=prompt, **kwargs)

    def judge(self, seat_name: str) -> PanelJudge:
        return self._by_seat[seat_name]

    def binding(self, judge: PanelJudge, trace_id: str) -> RoleBinding:
        return RoleBinding(
            model=judge.model,
            role=judge.seat.name,
            trace_id=trace_id,
            traces=self.traces,
            structured_method=self.settings.structured_output,
            parse_retries=self.settings.parse_retries,
            record_prompts=self.settings.trace_prompts,
        )
