"""The samples of a run as filterable rows, and one sample's full record.

A loop run is read through :class:`looptool.loop.lineage.RunIndex` (one parse of every data,
probe and judge file, shared with the lineage query); a static-pipeline or synthesis run
through its ``samples.jsonl`` and ``rejects.jsonl``. Rejected dialogues are rows too
(status ``rejected``), so "why was this thrown away?" is one filter away.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looptool.jsonl import SearchMemo, id_needles, iter_jsonl_dicts, iter_jsonl_dicts_with
from looptool.loop.lineage import DEFAULT_MAX_DEPTH, FileKind, RunIndex
from looptool.loop.run_layout import SEED_DIR
from looptool.view.runfolder import RunFolder, RunKind, fingerprint

#: The parts of D_{j+1}, as ``looptool.loop.compose`` fills them.
PARTS = ("error_seeds", "expansions", "high_ppl", "fresh")
#: Where a sample sits in a loop run: the seed pool, held-out, D_j, EDDE output, D_{j+1}.
SETS = ("seed", "heldout", "data", "expansions", "next", "judged", "synth", "rejected")
_SET_OF_KIND = {
    FileKind.SEED_TRAIN: "seed",
    FileKind.HELDOUT: "heldout",
    FileKind.DATA: "data",
    FileKind.EXPANSIONS: "expansions",
    FileKind.NEXT: "next",
}
REJECTED_ACTIONS = ("dropped", "relabel_rejected")
SEARCH_CHARS = 4000


@dataclass(frozen=True)
class Place:
    """One file a sample is in: ``set`` in ``mode``'s iteration (None: seed files)."""

    set: str
    mode: str | None = None
    iteration: int | None = None
    #: For ``next``: which part of D_{j+1} it is (error_seeds, expansions, high_ppl, fresh).
    part: str | None = None


@dataclass
class SampleRow:
    """One sample (or rejected dialogue) of a run, with what the filters look at."""

    id: str
    origin: str
    iteration: int
    parent_id: str | None
    tools: tuple[str, ...]
    label: str
    places: list[Place] = field(default_factory=list)
    verdicts: list[tuple[str, int, str, str]] = field(default_factory=list)  # mode, iteration, verdict, action
    status: str = "accepted"
    search: str = ""
    dialogue_id: str | None = None
    reasons: list[str] = field(default_factory=list)

    def iterations(self) -> set[int]:
        found = {place.iteration for place in self.places if place.iteration is not None}
        found |= {verdict[1] for verdict in self.verdicts}
        return found | {self.iteration}


@dataclass(frozen=True)
class SampleFilter:
    """The samples page's and ``traces list``'s filters; empty fields match everything."""

    mode: str = ""
    iteration: int | None = None
    set: str = ""
    part: str = ""
    origin: str = ""
    verdict: str = ""
    tool: str = ""
    status: str = ""
    q: str = ""

    def matches(self, row: SampleRow) -> bool:
        if self.set or self.mode or self.part:
            if not any((not self.set or place.set == self.set) and (not self.mode or place.mode == self.mode)
                       and (not self.part or place.part == self.part)
                       and (self.iteration is None or place.iteration == self.iteration) for place in row.places):
                return False
        elif self.iteration is not None and self.iteration not in row.iterations():
            return False
        if self.origin and row.origin != self.origin:
            return False
        if self.verdict and not any(v[2] == self.verdict and (self.iteration is None or v[1] == self.iteration)
                                    and (not self.mode or v[0] == self.mode) for v in row.verdicts):
            return False
        if self.tool and self.tool not in row.tools:
            return False
        if self.status and row.status != self.status:
            return False
        return not (self.q and self.q.lower() not in row.search)


def label_text(data: dict[str, Any]) -> str:
    """``name(args)`` per label call, or the text reply, from a sample's JSON."""
    calls = data.get("label_calls") or []
    if calls:
        return "; ".join(
            f"{call.get('name')}({json.dumps(call.get('arguments', {}), ensure_ascii=False)})"
            for call in calls if isinstance(call, dict)
        )
    return str(data.get("label_text") or "")


def _search_text(data: dict[str, Any], label: str) -> str:
    texts = [str(data.get("id", "")), label]
    for message in data.get("context") or []:
        if isinstance(message, dict):
            texts.append(str(message.get("content") or ""))
    return " ".join(texts)[:SEARCH_CHARS].lower()


def _row(data: dict[str, Any]) -> SampleRow:
    lineage = data.get("lineage") if isinstance(data.get("lineage"), dict) else {}
    assert isinstance(lineage, dict)
    label = label_text(data)
    tools = tuple(str(tool.get("name")) for tool in data.get("tools") or [] if isinstance(tool, dict))
    iteration = lineage.get("iteration")
    return SampleRow(
        id=str(data.get("id")),
        origin=str(lineage.get("origin", "seed")),
        iteration=iteration if isinstance(iteration, int) else 0,
        parent_id=lineage.get("parent_id"),
        tools=tools,
        label=label,
        search=_search_text(data, label),
        dialogue_id=lineage.get("dialogue_id"),
    )


@dataclass
class SampleIndex:
    """Every sample row of one run, plus the loop's :class:`RunIndex` when it is a loop run."""

    rows: dict[str, SampleRow]
    run_index: RunIndex | None = None
    files: dict[str, Path] = field(default_factory=dict)  # sample id -> file holding its first copy (non-loop)

    def filter(self, wanted: SampleFilter) -> list[SampleRow]:
        return [row for row in self.rows.values() if wanted.matches(row)]

    def counts(self, attribute: str) -> Counter[str]:
        return Counter(str(getattr(row, attribute)) for row in self.rows.values())

    def raw(self, sample_id: str) -> dict[str, Any] | None:
        """The sample's first stored JSON object (None when unknown)."""
        if self.run_index is not None:
            found = self.run_index.occurrences.get(sample_id)
            if found:
                return found[0].line.data
            for _folder, line in self.run_index.judgements.get(sample_id, []):
                sample = line.data.get("sample")
                if isinstance(sample, dict) and sample.get("id") == sample_id:
                    return sample
        path = self.files.get(sample_id)
        if path is not None:
            for data in iter_jsonl_dicts(path, skip_torn_tail=True):
                if str(data.get("id", data.get("dialogue_id"))) == sample_id:
                    return data
        return None


def source_files(run: RunFolder) -> list[Path]:
    """The files a sample index reads (their fingerprint decides when to rebuild it)."""
    paths = [run.path / SEED_DIR / "train.jsonl", run.path / SEED_DIR / "heldout.jsonl"]
    for folder in run.iterations():
        paths += [folder.data, folder.probes, folder.probe_journal, folder.verdicts, folder.judge_journal,
                  folder.expansions, folder.next_data]
    for base in (run.path, run.path / "synth"):
        paths += [base / "samples.jsonl", base / "rejects.jsonl"]
    return paths


def index_fingerprint(run: RunFolder) -> tuple[tuple[str, int, int], ...]:
    return fingerprint(source_files(run))


def build_index(run: RunFolder) -> SampleIndex:
    """Read every sample of ``run`` once (a loop run's journals too, when a stage is unfinished)."""
    if run.kind is RunKind.LOOP:
        return _loop_index(RunIndex.load(run.path))
    return _flat_index(run)


def sample_index(run: RunFolder, sample_id: str) -> SampleIndex:
    """What the page of ``sample_id`` needs, without parsing the whole run: only the lines that
    name the sample, its parents (as deep as the lineage tree goes), the samples made from them
    and their relabeled copies, found by a byte search (:meth:`RunIndex.load` with ``only``).
    Those samples' rows, probes, verdicts and lineage are what :func:`build_index` gives them;
    the other rows are partial or missing, so this index is for that one page only."""
    if run.kind is not RunKind.LOOP:
        index = _flat_index(run, {sample_id})
        row = index.rows.get(sample_id)
        return _flat_index(run, {sample_id, str(row.parent_id)}) if row and row.parent_id else index
    walked, wanted = [sample_id], {sample_id}
    memo: SearchMemo = {}
    while True:
        run_index = RunIndex.load(run.path, only=wanted, memo=memo)
        more: set[str] = set()
        for subject in list(walked):  # the lineage tree walks each parent up to DEFAULT_MAX_DEPTH
            more.update(run_index.children.get(subject, []))
            for _folder, line in run_index.judgements.get(subject, []):
                made = line.data.get("sample")
                more.update(str(new) for new in (line.data.get("new_sample_id"),
                                                  made.get("id") if isinstance(made, dict) else None) if new)
            first = run_index.occurrences.get(subject)
            lineage = first[0].line.data.get("lineage") if first else None
            parent = lineage.get("parent_id") if isinstance(lineage, dict) else None
            if parent:
                more.add(str(parent))  # linked from the tree even where it is not followed
                if str(parent) not in walked and len(walked) <= DEFAULT_MAX_DEPTH:
                    walked.append(str(parent))
        if more <= wanted:
            return _loop_index(run_index)
        wanted |= more


def _flat_index(run: RunFolder, only: set[str] | None = None) -> SampleIndex:
    """A static-pipeline or synthesis run's samples and rejects (``only``: the lines naming those ids)."""
    index = SampleIndex(rows={})
    needles = None if only is None else id_needles(only)
    for base in (run.path, run.path / "synth"):
        samples, rejects = base / "samples.jsonl", base / "rejects.jsonl"
        if samples.is_file():
            for data in _records(samples, needles):
                row = _row(data)
                row.places.append(Place("synth"))
                index.rows.setdefault(row.id, row)
                index.files.setdefault(row.id, samples)
        if rejects.is_file():
            for data in _records(rejects, needles):
                row = _reject_row(data)
                index.rows.setdefault(row.id, row)
                index.files.setdefault(row.id, rejects)
    return index


def _records(path: Path, needles: list[bytes] | None) -> Iterator[dict[str, Any]]:
    if needles is None:
        yield from iter_jsonl_dicts(path, skip_torn_tail=True)
    else:
        yield from (data for _number, data in iter_jsonl_dicts_with(path, needles, skip_torn_tail=True))


def _reject_row(data: dict[str, Any]) -> SampleRow:
    """A rejected dialogue (``RejectRecord``) as a row."""
    dialogue = data.get("dialogue") if isinstance(data.get("dialogue"), dict) else {}
    assert isinstance(dialogue, dict)
    reasons = [str(reason) for reason in data.get("reasons") or []]
    texts = [str(m.get("content") or "") for m in dialogue.get("messages") or [] if isinstance(m, dict)]
    identifier = str(data.get("dialogue_id"))
    return SampleRow(
        id=identifier, origin="dialogue", iteration=0, parent_id=None,
        tools=tuple(str(t.get("name")) for t in dialogue.get("tools") or [] if isinstance(t, dict)),
        label="", places=[Place("rejected")], status="rejected",
        search=" ".join([identifier, *reasons, *texts])[:SEARCH_CHARS].lower(),
        dialogue_id=identifier, reasons=reasons,
    )


def _loop_index(run_index: RunIndex) -> SampleIndex:
    rows: dict[str, SampleRow] = {}
    for sample_id, occurrences in run_index.occurrences.items():
        row = _row(occurrences[0].line.data)
        for occurrence in occurrences:
            folder = occurrence.folder
            row.places.append(Place(_SET_OF_KIND[occurrence.kind],
                                    folder.mode.value if folder else None, folder.iteration if folder else None))
        rows[sample_id] = row
    for sample_id, judged in run_index.judgements.items():
        for folder, line in judged:
            verdict, action = str(line.data.get("verdict")), str(line.data.get("action"))
            judged_row = rows.get(sample_id)
            if judged_row is None:
                continue
            row = judged_row
            row.verdicts.append((folder.mode.value, folder.iteration, verdict, action))
            row.places.append(Place("judged", folder.mode.value, folder.iteration))
            if action in REJECTED_ACTIONS:
                row.status = "rejected"
                row.reasons.append(str(line.data.get("reason") or line.data.get("analysis") or action))
            new = line.data.get("sample")
            if isinstance(new, dict) and new.get("id") and new["id"] != sample_id:
                made = rows.get(str(new["id"]))
                if made is None:
                    made = rows[str(new["id"])] = _row(new)
                    made.status = "rejected" if action in REJECTED_ACTIONS else "accepted"
                made.places.append(Place("judged", folder.mode.value, folder.iteration))
    for row in rows.values():
        row.places = [_with_part(row, place, run_index) for place in row.places]
    return SampleIndex(rows=rows, run_index=run_index)


def _with_part(row: SampleRow, place: Place, run_index: RunIndex) -> Place:
    """A ``next`` place with its part of D_{j+1}: an expansion made in that iteration, an error
    seed (label confirmed, or the relabeled copy), a mastered sample kept for its perplexity,
    or a fresh seed sample."""
    if place.set != "next":
        return place
    here = {(p.set, p.mode, p.iteration) for p in row.places}
    actions = {v[3] for v in row.verdicts if v[0] == place.mode and v[1] == place.iteration}
    if ("expansions", place.mode, place.iteration) in here:
        part = "expansions"
    elif "error_seed" in actions or (row.origin == "relabeled" and row.iteration == place.iteration):
        part = "error_seeds"
    elif "kept_high_ppl" in actions or row.origin == "high_ppl" or any(
            folder.mode.value == place.mode and folder.iteration == place.iteration and line.data.get("matched")
            for folder, line in run_index.probes.get(row.id, [])):
        part = "high_ppl"
    else:
        part = "fresh"
    return Place(place.set, place.mode, place.iteration, part)
