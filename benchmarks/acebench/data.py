"""Read ACEBench records and possible answers (JSON Lines despite the ``.json`` name).

Record formats are described in ``../shared/acebench/README.md`` §4. Each scored unit
becomes one :class:`AceItem`: a prompt record with its answer, or (multi-turn normal
categories) a whole conversation of turn records.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from looptool.benchmarks.acebench.categories import MULTI_TURN, Kind, Language, kind_of
from looptool.benchmarks.acebench.paths import AceBenchDataError, language_dir


class PromptRecord(BaseModel):
    """A normal or special record: dialogue text, candidate functions, time or profile."""

    model_config = ConfigDict(extra="forbid")

    id: str
    question: str
    function: list[dict[str, Any]]
    time: str = ""
    profile: str | None = None


class AgentRecord(BaseModel):
    """An agent record: user instruction (multi_turn) or task (multi_step), tools, scenario."""

    model_config = ConfigDict(extra="forbid")

    id: str
    question: str
    initial_config: dict[str, Any] = Field(default_factory=dict)
    path: list[Any] = Field(default_factory=list)
    function: list[dict[str, Any]]
    involved_classes: list[str]


class Turn(BaseModel):
    """One record of a normal category with its possible answer (JSON as in the file)."""

    model_config = ConfigDict(extra="forbid")

    record: PromptRecord
    answer: Any


class AgentAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    ground_truth: list[dict[str, dict[str, Any]]]
    mile_stone: list[Any]

    def milestone_alternatives(self) -> list[list[str]]:
        """Milestones as a list of alternative sequences (some records give several)."""
        if self.mile_stone and all(isinstance(item, list) for item in self.mile_stone):
            return [list(item) for item in self.mile_stone]
        return [[str(item) for item in self.mile_stone]]


class AceItem(BaseModel):
    """One scored unit: ``turns`` for normal/special (several for a multi-turn conversation),
    ``agent`` + ``agent_answer`` for agent categories."""

    model_config = ConfigDict(extra="forbid")

    id: str
    language: Language
    stem: str
    turns: list[Turn] = Field(default_factory=list)
    agent: AgentRecord | None = None
    agent_answer: AgentAnswer | None = None

    @property
    def kind(self) -> Kind:
        return kind_of(self.stem)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All records of a JSON Lines file; a bad line raises naming file and line."""
    if not path.is_file():
        raise AceBenchDataError(f"ACEBench data file missing: {path}")
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise AceBenchDataError(f"{path}:{number}: not JSON: {error.msg}") from None
    return rows


_CONVERSATION = re.compile(r"^(?P<stem>.+)_(?P<conversation>\d+)_(?P<turn>\d+)$")


def conversation_key(record_id: str) -> str:
    """``normal_multi_turn_user_adjust_2_1`` -> ``normal_multi_turn_user_adjust_2``."""
    match = _CONVERSATION.match(record_id)
    if not match:
        raise AceBenchDataError(f"multi-turn record id {record_id!r} has no _<conv>_<turn> suffix")
    return f"{match['stem']}_{match['conversation']}"


def _payloads(root: Path, language: Language, stem: str) -> list[dict[str, Any]]:
    """The scored units of one category as JSON-compatible dicts (the shape of :class:`AceItem`)."""
    folder = language_dir(root, language)
    records = read_jsonl(folder / f"data_{stem}.json")
    answers = read_jsonl(folder / "possible_answer" / f"data_{stem}.json")
    if len(records) != len(answers):
        raise AceBenchDataError(
            f"{stem} ({language}): {len(records)} records but {len(answers)} possible answers"
        )
    for record, answer in zip(records, answers, strict=True):
        if record.get("id") != answer.get("id"):
            raise AceBenchDataError(
                f"{stem} ({language}): record {record.get('id')!r} paired with answer {answer.get('id')!r}"
            )
    pairs = list(zip(records, answers, strict=True))
    if kind_of(stem) is Kind.AGENT:
        return [
            {"id": str(record["id"]), "language": language, "stem": stem, "agent": record, "agent_answer": answer}
            for record, answer in pairs
        ]
    turns = [{"record": record, "answer": answer["ground_truth"]} for record, answer in pairs]
    if stem not in MULTI_TURN:
        return [{"id": str(t["record"]["id"]), "language": language, "stem": stem, "turns": [t]} for t in turns]
    items: list[dict[str, Any]] = []
    for turn in turns:  # consecutive records of one conversation form one item
        key = conversation_key(str(turn["record"]["id"]))
        if items and items[-1]["id"] == key:
            items[-1]["turns"].append(turn)
        else:
            items.append({"id": key, "language": language, "stem": stem, "turns": [turn]})
    return items


@lru_cache(maxsize=128)
def _load_stem_cached(root: str, language: Language, stem: str) -> tuple[tuple[AceItem, dict[str, Any]], ...]:
    loaded = []
    for payload in _payloads(Path(root), language, stem):
        try:
            item = AceItem.model_validate(payload)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise AceBenchDataError(f"{stem} ({language}) {payload['id']}: {where}: {first['msg']}") from None
        loaded.append((item, payload))
    return tuple(loaded)


def load_stem(root: Path, language: Language, stem: str) -> list[AceItem]:
    """The scored units of one category in one language (cached per process; treat as read-only)."""
    return [item for item, _ in _load_stem_cached(str(root), language, stem)]


def load_stem_payloads(root: Path, language: Language, stem: str) -> list[dict[str, Any]]:
    """The same units as JSON-compatible dicts (shared with the cache: do not mutate)."""
    return [payload for _, payload in _load_stem_cached(str(root), language, stem)]


def clear_cache() -> None:
    """Forget loaded categories (the next load reads the files again)."""
    _load_stem_cached.cache_clear()
