"""Everything a run threw away, grouped by reason: rejected dialogues, EDDE expansions that
failed validation, judge verdicts that dropped a sample, and rejected or failed traces.

A group's key is the reason's rule name (the text before the first ``:``, e.g.
``unknown_tool``), so "which rule rejects most?" is the first table.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looptool.jsonl import iter_jsonl_dicts
from looptool.view.runfolder import RunFolder
from looptool.view.samples import REJECTED_ACTIONS, SampleIndex
from looptool.view.tracequery import TraceFilter, list_traces

GROUP_KEY_CHARS = 60


@dataclass(frozen=True)
class Reject:
    """One thing thrown away: what, why, where, and the trace/sample that explain it."""

    source: str  # dialogue | expansion | judge | trace
    reason: str
    where: str
    trace_id: str | None = None
    sample_id: str | None = None


@dataclass
class RejectGroup:
    key: str
    items: list[Reject] = field(default_factory=list)


def group_key(reason: str) -> str:
    """``unknown_tool: 'x' is not offered`` -> ``unknown_tool``; a long free text -> its start."""
    head, sep, _rest = reason.partition(":")
    head = head.strip()
    if sep and 0 < len(head) <= GROUP_KEY_CHARS:
        return head
    return reason[:GROUP_KEY_CHARS].strip() or "(no reason given)"


def _outcome_records(path: Path) -> list[dict[str, Any]]:
    """``outcomes.jsonl`` lines (plain ExpansionRecords, or ``{"record": ...}`` of older runs)."""
    if not path.is_file():
        return []
    records = []
    for data in iter_jsonl_dicts(path, skip_torn_tail=True):
        inner = data.get("record")
        records.append(inner if isinstance(inner, dict) else data)
    return records


def collect_rejects(run: RunFolder, index: SampleIndex) -> list[Reject]:
    found: list[Reject] = []
    for row in index.rows.values():
        if row.origin == "dialogue":
            found += [Reject("dialogue", reason, "rejects.jsonl", trace_id=row.id, sample_id=row.id)
                      for reason in row.reasons or ["(no reason given)"]]
    for folder in run.iterations():
        for record in _outcome_records(folder.path / "expand" / "outcomes.jsonl"):
            seed = str(record.get("seed_id"))
            trace = f"edde:{folder.iteration}:{seed}"
            reasons = record.get("rejected")
            for reason in reasons if isinstance(reasons, list) else []:
                for part in str(reason).split("; "):
                    found.append(Reject("expansion", part, folder.label, trace_id=trace, sample_id=seed))
            if record.get("error"):
                found.append(Reject("expansion", f"generator_error: {record['error']}", folder.label,
                                    trace_id=trace, sample_id=seed))
    if index.run_index is not None:
        for sample_id, judged in index.run_index.judgements.items():
            for folder, line in judged:
                action = str(line.data.get("action"))
                if action in REJECTED_ACTIONS:
                    reason = str(line.data.get("reason") or f"{line.data.get('verdict')}: {action}")
                    found.append(Reject("judge", reason, folder.label, trace_id=f"jglv:{folder.iteration}:{sample_id}",
                                        sample_id=sample_id))
    known = {item.trace_id for item in found}
    rows, _problems = list_traces(run, TraceFilter(status="rejected"))
    for trace_row in rows:
        if trace_row.info.trace_id not in known:
            found.append(Reject("trace", trace_row.reason or trace_row.info.status, trace_row.store,
                                trace_id=trace_row.info.trace_id, sample_id=trace_row.sample_id))
    return found


def group_rejects(rejects: list[Reject]) -> list[RejectGroup]:
    """Groups by reason key, largest first."""
    groups: dict[str, RejectGroup] = defaultdict(lambda: RejectGroup(""))
    for item in rejects:
        key = group_key(item.reason)
        group = groups[key]
        group.key = key
        group.items.append(item)
    return sorted(groups.values(), key=lambda group: (-len(group.items), group.key))
