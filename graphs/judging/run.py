"""Judge one mismatch end to end: :func:`judge_mismatch` runs the compiled judging graph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel

from looptool.agents.backends.registry import BackendRegistry
from looptool.agents.label_judge import Prediction
from looptool.graphs.judging.context import JudgingContext, PanelJudge
from looptool.graphs.judging.graph import graph
from looptool.graphs.judging.settings import JglvSettings
from looptool.graphs.judging.state import JudgingInputState, LabelVerdict
from looptool.schema import Sample
from looptool.traces import TraceStore

TRACE_KIND = "jglv"


async def judge_mismatch(
    sample: Sample,
    prediction: Prediction,
    *,
    settings: JglvSettings,
    judges: Mapping[str, BaseChatModel] | Sequence[PanelJudge],
    traces: TraceStore | None = None,
    trace_id: str | None = None,
    registry: BackendRegistry | None = None,
    scenarios: dict[str, dict[str, Any]] | None = None,
) -> LabelVerdict:
    """The :class:`LabelVerdict` for ``sample`` vs ``prediction``.

    ``judges`` is either the chat model of each model role (the panel is then built from
    ``settings.judges`` / ``panel_size``) or the panel itself. The item's trace
    (``trace_id``, default ``jglv:<sample id>``) is opened and closed with the verdict as its
    status. Model failures never raise (they end as UNJUDGED votes); a panel that cannot be
    built (no model for a configured role) raises ``ValueError``.
    """
    context = JudgingContext.from_settings(settings, judges, traces=traces, registry=registry,
                                           scenarios=scenarios)
    item_id = trace_id or f"{TRACE_KIND}:{sample.id}"
    if traces is not None:
        traces.start(item_id, kind=TRACE_KIND, metadata={"sample_id": sample.id})
    state = JudgingInputState(item_id=item_id, sample=sample, prediction=prediction)
    output: dict[str, Any] = await graph.ainvoke(state, context=context)
    result: LabelVerdict = output["result"]
    if traces is not None:
        traces.finish(item_id, result.verdict.value, metadata={
            "decided_by": result.decided_by, "panel_rule": result.panel_rule,
            "position_disagreement": result.position_disagreement,
        })
    return result
