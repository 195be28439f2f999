"""Execution evidence for a mismatch: run label and prediction on real tool backends.

When every tool the sample offers has an executable backend, the label's calls and the
prediction's calls each run on a *fresh* toolbox (same initial scenario; the tool calls
already made in the sample's context are replayed first, so a stateful backend starts where
the dialogue was). The results (as a multiset of ``(tool, result)``) and the backends' end
states are compared. Both sides calling tools, every call succeeding, and results and end
states identical means the two answers are equivalent: the verdict is ``BOTH_CORRECT``
without asking a judge. In every other case the evidence is shown to the judges.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from looptool.agents.backends.registry import BackendRegistry
from looptool.agents.backends.toolbox import build_toolbox, executable_backend_for
from looptool.agents.label_judge import AnswerEvidence, Prediction
from looptool.schema import Role, Sample, ToolCall

MAX_RESULT_CHARS = 400

EvidenceStatus = Literal["equivalent", "different", "not_applicable"]


class CallOutcome(BaseModel):
    """One executed call and what the backend answered."""

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    ok: bool
    content: str
    error: str | None = None


class ExecutionRun(BaseModel):
    """One candidate's calls run on a fresh toolbox: outcomes and the end state."""

    model_config = ConfigDict(extra="forbid")

    outcomes: list[CallOutcome] = Field(default_factory=list)
    end_state: dict[str, Any] = Field(default_factory=dict)
    replay_errors: list[str] = Field(default_factory=list, description="context calls that failed on replay")

    @property
    def all_ok(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes)

    def result_multiset(self) -> list[str]:
        return sorted(json.dumps([outcome.name, outcome.content], ensure_ascii=False)
                      for outcome in self.outcomes)

    def describe(self) -> str:
        """Short text for the judge: each call's result, or "(no tool call)"."""
        if not self.outcomes:
            return "(no tool call)"
        parts = []
        for outcome in self.outcomes:
            shown = outcome.content if len(outcome.content) <= MAX_RESULT_CHARS else outcome.content[:MAX_RESULT_CHARS] + "..."
            parts.append(f"{outcome.name} -> {'ok' if outcome.ok else 'ERROR'}: {shown}")
        return "; ".join(parts)


class ExecutionEvidence(BaseModel):
    """What running both answers showed (``status`` says whether it decides the item)."""

    model_config = ConfigDict(extra="forbid")

    status: EvidenceStatus
    reason: str
    backends: dict[str, str] = Field(default_factory=dict, description="tool -> backend")
    replayed_calls: int = 0
    label: ExecutionRun | None = None
    prediction: ExecutionRun | None = None
    same_results: bool | None = None
    same_end_state: bool | None = None

    @property
    def decides(self) -> bool:
        return self.status == "equivalent"

    def for_judge(self) -> AnswerEvidence | None:
        """The evidence as the judge's prompt shows it (None when nothing ran)."""
        if self.label is None or self.prediction is None:
            return None
        if self.same_end_state is None:
            note = ""
        elif self.same_end_state:
            note = "The tools' end state is the same after both answers."
        else:
            note = "The tools' end state differs between the two answers."
        return AnswerEvidence(label=self.label.describe(), prediction=self.prediction.describe(), note=note)


def _not_applicable(reason: str, backends: dict[str, str] | None = None) -> ExecutionEvidence:
    return ExecutionEvidence(status="not_applicable", reason=reason, backends=backends or {})


def _context_calls(sample: Sample) -> list[ToolCall]:
    return [call for message in sample.context if message.role == Role.ASSISTANT
            for call in message.tool_calls]


def _run(
    calls: list[ToolCall], sample: Sample, registry: BackendRegistry | None,
    scenarios: dict[str, dict[str, Any]] | None,
) -> ExecutionRun:
    """``calls`` on a fresh toolbox in the scenario's initial state, after replaying the
    context's calls."""
    box = build_toolbox(sample.tools, registry=registry, scenarios=scenarios)
    replay_errors = []
    for call in _context_calls(sample):
        result = box.execute(call)
        if not result.ok:
            replay_errors.append(f"{call.name}: {result.error or result.content}")
    outcomes = []
    for call in calls:
        result = box.execute(call)
        outcomes.append(CallOutcome(name=call.name, arguments=call.arguments, ok=result.ok,
                                    content=result.content, error=result.error))
    return ExecutionRun(outcomes=outcomes, end_state=box.snapshot(), replay_errors=replay_errors)


def gather_evidence(
    sample: Sample,
    prediction: Prediction,
    *,
    registry: BackendRegistry | None = None,
    scenarios: dict[str, dict[str, Any]] | None = None,
) -> ExecutionEvidence:
    """Run label and prediction on fresh executable backends and compare (see module doc)."""
    backends: dict[str, str] = {}
    for tool in sample.tools:
        backend = executable_backend_for(tool, registry)
        if backend is None:
            return _not_applicable(f"tool {tool.name!r} has no executable backend", backends)
        backends[tool.name] = backend
    if not sample.tools:
        return _not_applicable("the sample offers no tools")
    if prediction.parse_error is not None:
        return _not_applicable("the prediction's tool calls did not parse", backends)
    if not sample.label_calls and not prediction.calls:
        return _not_applicable("neither answer calls a tool", backends)
    label_run = _run(sample.label_calls, sample, registry, scenarios)
    prediction_run = _run(prediction.calls, sample, registry, scenarios)
    same_results = label_run.result_multiset() == prediction_run.result_multiset()
    same_end_state = label_run.end_state == prediction_run.end_state
    evidence = ExecutionEvidence(
        status="different", reason="", backends=backends, replayed_calls=len(_context_calls(sample)),
        label=label_run, prediction=prediction_run,
        same_results=same_results, same_end_state=same_end_state,
    )
    if not sample.label_calls or not prediction.calls:
        evidence.reason = "one answer is a text reply, the other calls tools"
    elif not (label_run.all_ok and prediction_run.all_ok):
        failed = "label" if not label_run.all_ok else "prediction"
        evidence.reason = f"a call of the {failed} failed"
    elif not same_results:
        evidence.reason = "the calls return different results"
    elif not same_end_state:
        evidence.reason = "the tools end in different states"
    else:
        evidence.status = "equivalent"
        evidence.reason = "both ran without error with identical results and end state"
    return evidence
