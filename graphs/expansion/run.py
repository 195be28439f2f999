"""Expand one error seed end to end: :func:`expand_error_seed` runs the compiled graph."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from looptool.agents.expander import ErrorSeed
from looptool.graphs.expansion.context import ExpansionContext
from looptool.graphs.expansion.graph import graph
from looptool.graphs.expansion.settings import EddeSettings
from looptool.graphs.expansion.state import ExpansionInputState, ExpansionResult
from looptool.graphs.expansion.validator import SampleValidator
from looptool.traces import TraceStore

TRACE_KIND = "edde"


async def expand_error_seed(
    seed: ErrorSeed,
    *,
    settings: EddeSettings,
    generator: BaseChatModel,
    k: int | None = None,
    focus: str | None = None,
    validator: SampleValidator | None = None,
    traces: TraceStore | None = None,
    trace_id: str | None = None,
) -> ExpansionResult:
    """New samples around ``seed``: ``k`` asked (default ``settings.k``) with ``focus``
    (default: drawn by :meth:`EddeSettings.draw_focus`), each validated by ``validator``
    (default: rules only). The item's trace (``trace_id``, default
    ``edde:<seed id>:<iteration>``) is opened and closed with the count accepted. Model and
    validator failures never raise: they are in the result's ``generator_errors`` / ``rejected``.
    """
    k = k if k is not None else settings.k
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    focus = focus or settings.draw_focus(seed.sample.id, seed.iteration)
    context = ExpansionContext.from_settings(settings, generator, validator=validator, traces=traces)
    item_id = trace_id or f"{TRACE_KIND}:{seed.sample.id}:{seed.iteration}"
    if traces is not None:
        traces.start(item_id, kind=TRACE_KIND, metadata={"seed_id": seed.sample.id, "k": k, "focus": focus})
    state = ExpansionInputState(item_id=item_id, seed=seed, k=k, focus=focus)
    output: dict[str, Any] = await graph.ainvoke(state, context=context)
    result: ExpansionResult = output["result"]
    if traces is not None:
        traces.finish(item_id, "failed" if result.failed else "done", metadata={
            "produced": result.produced, "accepted": len(result.accepted), "rejected": len(result.rejected),
        })
    return result
