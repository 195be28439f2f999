"""Episodes: multi-step tool-use tasks checked by execution.

An :class:`Episode` is a task for a policy on executable backends (``agents/backends``): the
backends it may use and their initial state, the conversation up to the user's instruction,
and the expected outcome, mainly the backends' **end state** and optionally the expected
call sequence. A rollout plays the episode (the model calls tools, the backends answer, until
it answers in text or hits a bound); it succeeds when the backends end where expected.

End-state comparison is by key: for each backend named in :attr:`ExpectedOutcome.end_state`,
each top-level key listed there must equal the final snapshot's value exactly; keys not
listed are free (e.g. list a file system's ``files`` and ``directories`` but not its
``cwd``). Episodes live one per line in a JSONL file (``"kind": "episode"``), beside, never
inside, single-step sample files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from looptool.errors import UserError
from looptool.jsonl import DataFileError, iter_jsonl_dicts
from looptool.schema import SCHEMA_VERSION, Lineage, Message, Role, SchemaVersion, ToolCall

EPISODE_KIND = "episode"


class ExpectedOutcome(BaseModel):
    """What a successful rollout leaves behind."""

    model_config = ConfigDict(extra="forbid")

    #: backend name -> {state key: value}; only the keys listed are compared.
    end_state: dict[str, dict[str, Any]]
    #: The reference call sequence (one solution); used by the shaped reward and to report
    #: where a failed rollout first diverged, never required for success.
    calls: list[ToolCall] = Field(default_factory=list)

    @field_validator("end_state")
    @classmethod
    def _some_state(cls, end_state: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if not end_state or not any(end_state.values()):
            raise ValueError("end_state must name at least one backend and one of its state keys")
        return end_state


class UserBrief(BaseModel):
    """What the simulated user knows and wants (``train.simulated_user``); shown to the user
    simulator, never to the policy."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, description="what the user wants done, in the user's terms")
    details: list[str] = Field(default_factory=list, description="facts the user can give when asked")
    persona: str = "brief and to the point"


class Episode(BaseModel):
    """One multi-step task: backends + initial state + instruction -> expected end state."""

    model_config = ConfigDict(extra="forbid")

    schema_version: SchemaVersion = SCHEMA_VERSION
    kind: Literal["episode"] = "episode"
    id: str
    #: Registry names of the executable backends whose tools the policy is offered.
    backends: list[str] = Field(min_length=1)
    #: backend name -> scenario dict (``ToolBackend.load_scenario``); missing = empty state.
    initial_state: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: System and user messages before the policy's first turn; the last one is the user's.
    context: list[Message] = Field(min_length=1)
    now: str | None = None
    expected: ExpectedOutcome
    #: The simulated user's brief (only used with a simulated user in the rollout); without
    #: one the user knows the instruction and nothing more (:meth:`user_brief`).
    user: UserBrief | None = None
    lineage: Lineage = Field(default_factory=Lineage)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("backends")
    @classmethod
    def _unique_backends(cls, backends: list[str]) -> list[str]:
        if len(set(backends)) != len(backends):
            raise ValueError(f"backends are listed twice: {backends}")
        return backends

    @model_validator(mode="after")
    def _check(self) -> Episode:
        named = set(self.backends)
        for field_name, mapping in (("initial_state", self.initial_state),
                                    ("expected.end_state", self.expected.end_state)):
            stray = sorted(set(mapping) - named)
            if stray:
                raise ValueError(f"{field_name} names backend(s) {stray} not in backends {self.backends}")
        if self.context[-1].role != Role.USER:
            raise ValueError("context must end with the user's instruction (a user message)")
        if any(message.role not in (Role.SYSTEM, Role.USER) for message in self.context):
            raise ValueError("context holds only system and user messages (the policy plays the rest)")
        return self

    def user_brief(self) -> UserBrief:
        """The simulated user's brief: :attr:`user`, else the last instruction as the task."""
        return self.user if self.user is not None else UserBrief(task=self.context[-1].content)

    @property
    def environment_name(self) -> str:
        """The name of the environment class serving this episode's backends."""
        return "+".join(sorted(self.backends))


def end_state_differences(expected: dict[str, dict[str, Any]], snapshots: dict[str, dict[str, Any]]) -> list[str]:
    """Why ``snapshots`` (backend -> final snapshot) miss ``expected``; empty when they match."""
    problems: list[str] = []
    for backend, keys in sorted(expected.items()):
        state = snapshots.get(backend)
        if state is None:
            problems.append(f"{backend}: no final state")
            continue
        for key, value in sorted(keys.items()):
            if key not in state:
                problems.append(f"{backend}.{key}: not part of the backend's state")
            elif state[key] != value:
                problems.append(f"{backend}.{key}: differs from the expected end state")
    return problems


def load_episodes(path: str | Path) -> list[Episode]:
    """Every episode of a JSONL file; a bad line is reported with its number, id and problem."""
    source = Path(path)
    if not source.is_file():
        raise UserError(f"episode file {source} does not exist")
    episodes: list[Episode] = []
    seen: set[str] = set()
    try:
        for number, data in enumerate(iter_jsonl_dicts(source), start=1):
            if data.get("kind") != EPISODE_KIND:
                raise UserError(
                    f"{source}: record {number} is not an episode (\"kind\": {data.get('kind')!r}; "
                    f"episodes carry \"kind\": \"{EPISODE_KIND}\"); single-step samples and episodes "
                    "go in separate files"
                )
            try:
                episode = Episode.model_validate(data)
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                field = f" field '{where}':" if where else ""
                message = str(first["msg"]).removeprefix("Value error, ")
                raise UserError(
                    f"{source}: record {number} (episode {data.get('id', '<no id>')!r}):{field} {message}"
                ) from None
            if episode.id in seen:
                raise UserError(f"{source}: record {number}: episode id {episode.id!r} appears twice")
            seen.add(episode.id)
            episodes.append(episode)
    except DataFileError as error:
        raise UserError(str(error)) from None
    if not episodes:
        raise UserError(f"{source}: the episode file is empty")
    return episodes


def is_episode_file(path: str | Path) -> bool:
    """Whether the first record of a JSONL file is an episode."""
    try:
        first = next(iter_jsonl_dicts(path), None)
    except DataFileError:
        return False
    return first is not None and first.get("kind") == EPISODE_KIND
