"""One sample's history across a run: the query behind ``looptool lineage RUN SAMPLE_ID``.

:func:`sample_history` walks the run folder (layout in :mod:`looptool.loop.run_layout`) and
returns typed :class:`LineageStep` records: where the sample entered (seed, imported, made
by EDDE or JGLV from a parent), every iteration that trained on it, its probe result
(matched? perplexity), its judge verdict and what the loop did with it, the corrected copy a
relabel made (old and new label side by side), the expansions made from it, whether it went
into the next iteration's data, and then its parent's history (recursively, bounded).
:func:`render_history` draws the steps as a rich tree.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from looptool.jsonl import (
    DataFileError,
    SearchMemo,
    id_needles,
    iter_jsonl_dicts,
    iter_jsonl_dicts_with,
)
from looptool.loop.records import JudgeRecord, LoopMode, ProbeRecord, Verdict
from looptool.loop.run_layout import SEED_DIR, IterationFolder, check_run_dir, iteration_folders
from looptool.schema import OriginKind, Sample

DEFAULT_MAX_DEPTH = 8
LABEL_PREVIEW_CHARS = 80
ModelT = TypeVar("ModelT", bound=BaseModel)


class UnknownSampleError(KeyError):
    """The sample id is in none of the run's data files; the message suggests close ids."""

    def __str__(self) -> str:
        return str(self.args[0])


class StepKind(StrEnum):
    """What one step of a history records."""

    ORIGIN = "origin"  # what made the sample (its lineage)
    SEED = "seed"  # in seed/train.jsonl
    HELDOUT = "heldout"  # in seed/heldout.jsonl
    TRAINED_ON = "trained_on"  # in <mode>/iter_<j>/data.jsonl
    PROBED = "probed"
    JUDGED = "judged"
    RELABELED_AS = "relabeled_as"  # JGLV made a copy with a corrected label
    EXPANDED_INTO = "expanded_into"  # EDDE made a variant from it
    DERIVED = "derived"  # another sample names it as parent (other origins)
    COMPOSED = "composed"  # selected into D_{j+1} (<mode>/iter_<j>/compose/next.jsonl)
    PARENT = "parent"  # the parent's history follows, one level deeper


class LineageStep(BaseModel):
    """One fact of a sample's history. ``depth`` 0 is the queried sample, 1 its parent, ..."""

    model_config = ConfigDict(extra="forbid")

    sample_id: str
    depth: int
    kind: StepKind
    summary: str
    mode: LoopMode | None = None
    iteration: int | None = None
    place: str | None = None
    origin: OriginKind | None = None
    matched: bool | None = None
    perplexity: float | None = None
    verdict: Verdict | None = None
    action: str | None = None
    related_id: str | None = None
    notes: list[str] = Field(default_factory=list)


class FileKind(StrEnum):
    SEED_TRAIN = "seed/train.jsonl"
    HELDOUT = "seed/heldout.jsonl"
    DATA = "data.jsonl"
    EXPANSIONS = "expand/expansions.jsonl"
    NEXT = "compose/next.jsonl"


@dataclass
class _Line:
    """One JSON line of a run file, validated only when a history needs it."""

    path: Path
    number: int
    data: dict[str, Any]

    def parse(self, model: type[ModelT]) -> ModelT:
        try:
            return model.model_validate(self.data)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise DataFileError(f"{self.path}:{self.number}: field '{where}': {first['msg']}") from None


@dataclass
class _Occurrence:
    kind: FileKind
    place: str
    line: _Line
    folder: IterationFolder | None = None


def _lines(path: Path, needles: list[bytes] | None = None, memo: SearchMemo | None = None) -> Iterator[_Line]:
    """Every line of ``path``, or (``needles``) only the lines holding one of them."""
    if not path.exists():
        return
    if needles is None:
        for number, data in enumerate(iter_jsonl_dicts(path, skip_torn_tail=True), start=1):
            yield _Line(path, number, data)
    else:
        for number, data in iter_jsonl_dicts_with(path, needles, skip_torn_tail=True, memo=memo):
            yield _Line(path, number, data)


def _record_lines(final: Path, journal: Path, model: type[BaseModel],
                  needles: list[bytes] | None = None, memo: SearchMemo | None = None) -> Iterator[_Line]:
    """The stage's output file, or (stage interrupted) the journal lines that are records."""
    if final.exists():
        yield from _lines(final, needles, memo)
        return
    for line in _lines(journal, needles, memo):
        try:
            model.model_validate(line.data)
        except ValidationError:
            continue
        yield line


@dataclass
class RunIndex:
    """Every sample occurrence and stage record of a run folder, keyed by sample id."""

    run_dir: Path
    occurrences: dict[str, list[_Occurrence]] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    probes: dict[str, list[tuple[IterationFolder, _Line]]] = field(default_factory=dict)
    judgements: dict[str, list[tuple[IterationFolder, _Line]]] = field(default_factory=dict)
    folders: list[IterationFolder] = field(default_factory=list)

    @classmethod
    def load(cls, run_dir: str | Path, only: Collection[str] | None = None,
             memo: SearchMemo | None = None) -> RunIndex:
        """Every line of the run's files; with ``only``, just the lines that name one of those
        ids anywhere (as ``id``, ``parent_id``, ``sample_id``, ...), found by a byte search
        without parsing the rest: everything about those ids, in the same order, much faster
        (``memo``: shared by loads for growing sets of ids, so each id is searched for once)."""
        path = check_run_dir(run_dir)
        needles = None if only is None else id_needles(only)
        index = cls(run_dir=path, folders=iteration_folders(path))
        index._add_samples(FileKind.SEED_TRAIN, path / SEED_DIR / "train.jsonl", None, needles, memo)
        index._add_samples(FileKind.HELDOUT, path / SEED_DIR / "heldout.jsonl", None, needles, memo)
        for folder in index.folders:
            index._add_samples(FileKind.DATA, folder.data, folder, needles, memo)
            index._add_samples(FileKind.EXPANSIONS, folder.expansions, folder, needles, memo)
            index._add_samples(FileKind.NEXT, folder.next_data, folder, needles, memo)
            for line in _record_lines(folder.probes, folder.probe_journal, ProbeRecord, needles, memo):
                index.probes.setdefault(str(line.data.get("sample_id")), []).append((folder, line))
            for line in _record_lines(folder.verdicts, folder.judge_journal, JudgeRecord, needles, memo):
                index.judgements.setdefault(str(line.data.get("sample_id")), []).append((folder, line))
        return index

    def _add_samples(self, kind: FileKind, path: Path, folder: IterationFolder | None,
                     needles: list[bytes] | None = None, memo: SearchMemo | None = None) -> None:
        place = str(path.relative_to(self.run_dir))
        for line in _lines(path, needles, memo):
            sample_id = str(line.data.get("id"))
            self.occurrences.setdefault(sample_id, []).append(_Occurrence(kind, place, line, folder))
            lineage = line.data.get("lineage")
            parent = lineage.get("parent_id") if isinstance(lineage, dict) else None
            if parent:
                siblings = self.children.setdefault(str(parent), [])
                if sample_id not in siblings:
                    siblings.append(sample_id)

    @property
    def known_ids(self) -> list[str]:
        return sorted({*self.occurrences, *self.probes, *self.judgements})

    def check_known(self, sample_id: str) -> None:
        if sample_id in self.occurrences or sample_id in self.probes or sample_id in self.judgements:
            return
        known = self.known_ids
        close = difflib.get_close_matches(sample_id, known, n=3, cutoff=0.6)
        if close:
            hint = "did you mean " + ", ".join(repr(item) for item in close) + "?"
        elif known:
            hint = f"it holds {len(known)} sample ids, e.g. {', '.join(repr(item) for item in known[:3])}"
        else:
            hint = "it holds no samples yet"
        raise UnknownSampleError(f"sample {sample_id!r} is not in run {self.run_dir} ({hint})")

    def sample(self, sample_id: str) -> Sample | None:
        """The sample as first written (seed files, then iterations in order)."""
        found = self.occurrences.get(sample_id)
        return found[0].line.parse(Sample) if found else None


def describe_label(sample: Sample) -> str:
    """``name(arg=value, ...)`` per call, or the quoted text reply (shortened)."""
    if sample.label_calls:
        calls = []
        for call in sample.label_calls:
            arguments = ", ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in call.arguments.items())
            calls.append(f"{call.name}({arguments})")
        text = "; ".join(calls)
    else:
        text = json.dumps(sample.label_text or "", ensure_ascii=False)
    return text if len(text) <= LABEL_PREVIEW_CHARS else text[: LABEL_PREVIEW_CHARS - 1] + "…"


@dataclass
class _HistoryBuilder:
    index: RunIndex
    max_depth: int
    steps: list[LineageStep] = field(default_factory=list)
    visited: set[str] = field(default_factory=set)
    shown_children: set[tuple[str, str]] = field(default_factory=set)

    def add(self, sample_id: str, depth: int, kind: StepKind, summary: str, **details: Any) -> None:
        self.steps.append(LineageStep(sample_id=sample_id, depth=depth, kind=kind, summary=summary, **details))

    def walk(self, sample_id: str, depth: int) -> None:
        self.visited.add(sample_id)
        occurrences = self.index.occurrences.get(sample_id, [])
        first = self.index.sample(sample_id)
        if first is not None:
            lineage = first.lineage
            made = f"origin: {lineage.origin.value} (iteration {lineage.iteration}, stage {lineage.stage})"
            if lineage.parent_id:
                made += f", from {lineage.parent_id}"
            self.add(sample_id, depth, StepKind.ORIGIN, made, origin=lineage.origin, iteration=lineage.iteration,
                     related_id=lineage.parent_id, notes=list(lineage.notes), place=occurrences[0].place)
        for occurrence in occurrences:
            if occurrence.kind is FileKind.SEED_TRAIN:
                self.add(sample_id, depth, StepKind.SEED, "in the seed training set", place=occurrence.place)
            elif occurrence.kind is FileKind.HELDOUT:
                self.add(sample_id, depth, StepKind.HELDOUT, "in the held-out set (never trained on)",
                         place=occurrence.place)
        for child_id in self.index.children.get(sample_id, []):
            if self._first_folder(child_id) is None:
                self._child(sample_id, child_id, depth, {})
        for folder in self.index.folders:
            self._iteration(sample_id, depth, folder, occurrences)
        parent = first.lineage.parent_id if first is not None else None
        if parent:
            self._parent(sample_id, parent, depth)

    def _iteration(self, sample_id: str, depth: int, folder: IterationFolder,
                   occurrences: list[_Occurrence]) -> None:
        where = {"mode": folder.mode, "iteration": folder.iteration}
        here = {occurrence.kind: occurrence for occurrence in occurrences if occurrence.folder == folder}
        if FileKind.DATA in here:
            copy = here[FileKind.DATA].line.parse(Sample)
            self.add(sample_id, depth, StepKind.TRAINED_ON, f"in D_{folder.iteration} (origin {copy.lineage.origin.value})",
                     place=here[FileKind.DATA].place, origin=copy.lineage.origin, **where)
        for probe_folder, line in self.index.probes.get(sample_id, []):
            if probe_folder == folder:
                probe = line.parse(ProbeRecord)
                ppl = "-" if probe.perplexity is None else f"{probe.perplexity:.3g}"
                state = "matched" if probe.matched else "mismatched"
                if probe.parse_error:
                    state += f" (parse error: {probe.parse_error})"
                self.add(sample_id, depth, StepKind.PROBED, f"probe: {state}, perplexity {ppl}",
                         matched=probe.matched, perplexity=probe.perplexity, place=str(line.path.relative_to(self.index.run_dir)), **where)
        for judge_folder, line in self.index.judgements.get(sample_id, []):
            if judge_folder == folder:
                judged = line.parse(JudgeRecord)
                text = f"judge: {judged.verdict.value} by {judged.decided_by} -> {judged.action}"
                if judged.analysis:
                    text += f" ({judged.analysis})"
                self.add(sample_id, depth, StepKind.JUDGED, text, verdict=judged.verdict, action=judged.action,
                         related_id=judged.new_sample_id, place=str(line.path.relative_to(self.index.run_dir)), **where)
                if judged.new_sample_id:
                    self._relabel(sample_id, judged.new_sample_id, depth, where)
        for child_id in self.index.children.get(sample_id, []):
            if self._first_folder(child_id) == folder:
                self._child(sample_id, child_id, depth, where)
        if FileKind.NEXT in here:
            copy = here[FileKind.NEXT].line.parse(Sample)
            self.add(sample_id, depth, StepKind.COMPOSED,
                     f"selected into D_{folder.iteration + 1} (origin {copy.lineage.origin.value})",
                     place=here[FileKind.NEXT].place, origin=copy.lineage.origin, **where)

    def _first_folder(self, child_id: str) -> IterationFolder | None:
        """The iteration where ``child_id`` first appears (None: only in the seed files)."""
        found = [item.folder for item in self.index.occurrences.get(child_id, []) if item.folder is not None]
        return found[0] if found else None

    def _relabel(self, sample_id: str, child_id: str, depth: int, where: dict[str, Any]) -> None:
        if (sample_id, child_id) in self.shown_children:
            return
        self.shown_children.add((sample_id, child_id))
        parent = self.index.sample(sample_id)
        child = self.index.sample(child_id)
        if parent is not None and child is not None:
            text = f"relabeled as {child_id}: {describe_label(parent)} -> {describe_label(child)}"
        else:
            text = f"relabeled as {child_id}"
        self.add(sample_id, depth, StepKind.RELABELED_AS, text, related_id=child_id,
                 notes=list(child.lineage.notes) if child is not None else [], **where)

    def _child(self, sample_id: str, child_id: str, depth: int, where: dict[str, Any]) -> None:
        child = self.index.sample(child_id)
        if child is None or (sample_id, child_id) in self.shown_children:
            return
        origin = child.lineage.origin
        if origin is not OriginKind.RELABELED:
            self.shown_children.add((sample_id, child_id))
        if origin is OriginKind.RELABELED:
            self._relabel(sample_id, child_id, depth, where)
        elif origin is OriginKind.EXPANDED:
            self.add(sample_id, depth, StepKind.EXPANDED_INTO, f"expanded into {child_id}: {describe_label(child)}",
                     related_id=child_id, origin=origin, notes=list(child.lineage.notes), **where)
        else:
            self.add(sample_id, depth, StepKind.DERIVED, f"{child_id} ({origin.value}) names it as parent",
                     related_id=child_id, origin=origin, **where)

    def _parent(self, sample_id: str, parent_id: str, depth: int) -> None:
        if parent_id in self.visited:
            self.add(parent_id, depth + 1, StepKind.PARENT, f"parent {parent_id}: already shown (lineage cycle)",
                     related_id=sample_id)
        elif depth + 1 > self.max_depth:
            self.add(parent_id, depth + 1, StepKind.PARENT,
                     f"parent {parent_id}: not followed (more than {self.max_depth} generations)", related_id=sample_id)
        elif parent_id not in self.index.occurrences:
            self.add(parent_id, depth + 1, StepKind.PARENT, f"parent {parent_id}: in none of the run's files",
                     related_id=sample_id)
        else:
            self.add(parent_id, depth + 1, StepKind.PARENT, f"parent {parent_id}", related_id=sample_id)
            self.walk(parent_id, depth + 1)


def sample_history(run_dir: str | Path, sample_id: str, *, max_depth: int = DEFAULT_MAX_DEPTH,
                   index: RunIndex | None = None) -> list[LineageStep]:
    """``sample_id``'s history in ``run_dir`` (every mode), then its parents' (at most
    ``max_depth`` generations). Pass a loaded ``index`` to query many ids of one run.

    Raises :class:`UnknownSampleError` (suggesting close ids) when no file holds the id."""
    run_index = index if index is not None else RunIndex.load(run_dir)
    run_index.check_known(sample_id)
    builder = _HistoryBuilder(run_index, max_depth)
    builder.walk(sample_id, 0)
    return builder.steps


_KIND_STYLE: dict[StepKind, str] = {
    StepKind.ORIGIN: "bold",
    StepKind.PROBED: "cyan",
    StepKind.JUDGED: "magenta",
    StepKind.RELABELED_AS: "yellow",
    StepKind.EXPANDED_INTO: "green",
    StepKind.COMPOSED: "blue",
    StepKind.HELDOUT: "red",
}


def history_tree(sample_id: str, steps: list[LineageStep]) -> Tree:
    """The steps as a tree: one branch per mode and iteration, the parent's history nested."""
    root = Tree(f"[bold]{escape(sample_id)}[/bold]")
    sample_nodes: dict[int, Tree] = {0: root}
    iteration_nodes: dict[tuple[int, str], Tree] = {}
    for step in steps:
        if step.kind is StepKind.PARENT:
            node = sample_nodes[step.depth - 1].add(f"[bold]{escape(step.summary)}[/bold]")
            sample_nodes[step.depth] = node
            iteration_nodes = {key: value for key, value in iteration_nodes.items() if key[0] < step.depth}
            continue
        owner = sample_nodes[step.depth]
        if step.mode is not None:
            key = (step.depth, f"{step.mode.value} iteration {step.iteration}")
            if key not in iteration_nodes:
                iteration_nodes[key] = owner.add(escape(key[1]))
            owner = iteration_nodes[key]
        style = _KIND_STYLE.get(step.kind)
        text = escape(step.summary)
        if step.place:
            text += f" [dim]{escape(step.place)}[/dim]"
        node = owner.add(f"[{style}]{text}[/{style}]" if style else text)
        for note in step.notes:
            node.add(f"[dim]{escape(note)}[/dim]")
    return root


def render_history(steps: list[LineageStep], console: Console, sample_id: str | None = None) -> None:
    """Print a history (from :func:`sample_history`) as a rich tree."""
    if not steps:
        console.print(f"no history for {escape(sample_id or '?')}")
        return
    console.print(history_tree(sample_id or steps[0].sample_id, steps))
