"""Episode sources: the curated episode set and accepted simulated dialogues, each counted,
and the verifier every episode passes before it is written.

* **Verifier** (:func:`check_episode`): the reference calls, replayed on fresh backends in the
  episode's initial state, each succeed and end in the expected end state; the initial state
  alone does not (the task is not trivial); every reference call names a tool of the
  episode's backends.
* **Curated** (:func:`curated_episodes`, data in ``curated/episodes.yaml``): hand-written
  multi-step tasks over the ``filesystem`` and ``calendar`` backends. The file gives each
  task's instruction, initial state, reference calls and the state keys to compare; the
  expected end state is never written by hand: it is computed by replaying the reference
  calls (ids and counters come from the backends), then the episode is checked.
* **Dialogues** (:func:`dialogue_to_episode`, :func:`dialogues_to_episodes`): an accepted
  simulated dialogue whose every offered tool runs on an executable backend becomes the task
  of its first user turn, with the assistant's calls before the next user turn as reference.

Which state keys an end state compares, unless a curated entry says otherwise: every key of
the backend's snapshot except those in :data:`IGNORED_STATE_KEYS`. See docs/episodes.md.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from looptool.agents.backends.episode_env import (
    EpisodeEnvironment,
    EpisodeEnvironmentError,
    environment_class,
    environment_for,
    run_call,
)
from looptool.agents.backends.toolbox import executable_backend_for
from looptool.episodes import Episode, ExpectedOutcome, UserBrief, end_state_differences
from looptool.loop.seed.catalog import CURATED_DIR, EPISODES_FILE_NAME
from looptool.schema import Dialogue, Lineage, Message, OriginKind, Role, ToolCall

log = logging.getLogger(__name__)

#: The shipped curated episodes (package data).
CURATED_EPISODES_FILE: Final = CURATED_DIR / EPISODES_FILE_NAME

#: State keys an end state leaves free by default, per backend: where the file system's
#: working directory ends is not part of a task, and the calendar's id counters only count
#: creations (the events and to-dos, ids included, are compared).
IGNORED_STATE_KEYS: Final[dict[str, frozenset[str]]] = {
    "filesystem": frozenset({"cwd"}),
    "calendar": frozenset({"next_event_number", "next_todo_number"}),
}

#: ``Episode.metadata`` key naming the source an episode was made from.
SOURCE_KEY: Final = "source"
CURATED_SOURCE: Final = "curated"
DIALOGUE_SOURCE: Final = "dialogue"

#: Why a dialogue gives no episode (the keys :class:`DialogueConversion` counts).
NOT_ACCEPTED: Final = "not_accepted"
NON_EXECUTABLE_TOOL: Final = "non_executable_tool"
NO_USER_TURN: Final = "no_user_turn"
NO_CALLS: Final = "no_calls"
BACKENDS_CLASH: Final = "backends_clash"
REPLAY_FAILED: Final = "replay_failed"
NO_STATE_CHANGE: Final = "no_state_change"


#: The problem :func:`check_episode` reports for a task whose initial state is already done.
TRIVIAL: Final = "the initial state already has the expected end state (nothing to do)"


class EpisodeSourceError(ValueError):
    """A curated episode entry is invalid or fails its check; the message names its id."""


# ------------------------------------------------------------------------------- verifier


def _tool_routes(backends: Sequence[str]) -> dict[str, str]:
    return dict(environment_class(backends).routes)


def _replay(episode: Episode) -> tuple[EpisodeEnvironment, dict[str, dict[str, Any]], list[str]]:
    """``episode``'s reference calls on fresh backends: the environment, the initial state and
    the failures (``call N (name): content``; the replay stops at the first)."""
    environment = environment_for(episode)
    initial = environment.final_state
    failures: list[str] = []
    for number, call in enumerate(episode.expected.calls, start=1):
        step = run_call(environment, call)
        if not step.ok:
            failures.append(f"reference call {number} ({call.name}) failed: {step.content}")
            break
    return environment, initial, failures


def _structure_problems(episode: Episode) -> list[str]:
    """What is wrong before anything runs: the backends, the reference calls' tool names."""
    try:
        routes = _tool_routes(episode.backends)
    except (EpisodeEnvironmentError, KeyError, ValueError) as error:
        return [f"its backends cannot form an environment: {error}"]
    problems: list[str] = []
    if not episode.expected.calls:
        problems.append("no reference calls: nothing shows the expected end state is reachable")
    for number, call in enumerate(episode.expected.calls, start=1):
        if call.name not in routes:
            problems.append(f"reference call {number} names tool {call.name!r}, which none of the "
                            f"backends {sorted(episode.backends)} offers")
    return problems


def check_episode(episode: Episode) -> list[str]:
    """What is wrong with ``episode`` (empty when it is fine); see the module docstring."""
    problems = _structure_problems(episode)
    if problems:
        return problems
    try:
        environment, initial, failures = _replay(episode)
    except (EpisodeEnvironmentError, KeyError, ValueError) as error:
        return [f"its initial state cannot be loaded: {error}"]
    if not end_state_differences(episode.expected.end_state, initial):
        problems.append(TRIVIAL)
    if failures:
        return [*problems, *failures]
    problems.extend(f"after the reference calls, {difference}"
                    for difference in end_state_differences(episode.expected.end_state,
                                                            environment.final_state))
    return problems


def compared_keys(backend: str, snapshot: dict[str, Any]) -> list[str]:
    """The state keys of ``snapshot`` an end state compares by default."""
    ignored = IGNORED_STATE_KEYS.get(backend, frozenset())
    return [key for key in snapshot if key not in ignored]


def with_replayed_end_state(episode: Episode, keys: dict[str, list[str]] | None = None) -> Episode:
    """``episode`` whose expected end state is what replaying its reference calls leaves, on
    ``keys`` (backend -> state keys; default: every backend, :func:`compared_keys`).

    Raises :class:`EpisodeSourceError` when a call fails or a key is not part of a state."""
    environment, _, failures = _replay(episode)
    if failures:
        raise EpisodeSourceError(f"episode {episode.id!r}: {failures[0]}")
    final = environment.final_state
    chosen = keys if keys is not None else {name: compared_keys(name, state) for name, state in final.items()}
    end_state: dict[str, dict[str, Any]] = {}
    for backend, names in chosen.items():
        if backend not in final:
            raise EpisodeSourceError(f"episode {episode.id!r}: compares backend {backend!r}, "
                                     f"not one of its backends {sorted(episode.backends)}")
        stray = sorted(set(names) - set(final[backend]))
        if stray:
            raise EpisodeSourceError(f"episode {episode.id!r}: {backend} has no state key(s) {stray} "
                                     f"(known: {sorted(final[backend])})")
        end_state[backend] = {name: final[backend][name] for name in names}
    data = episode.model_dump(mode="json")
    data["expected"]["end_state"] = end_state
    return Episode.model_validate(data)


def _draft(episode_id: str, backends: list[str], initial_state: dict[str, dict[str, Any]],
           context: list[Message], now: str | None, calls: list[ToolCall], lineage: Lineage,
           metadata: dict[str, Any]) -> Episode:
    """An episode whose expected end state is a placeholder, to be replayed."""
    placeholder = {backend: {"_": None} for backend in backends}
    return Episode(id=episode_id, backends=backends, initial_state=initial_state, context=context,
                   now=now, expected=ExpectedOutcome(end_state=placeholder, calls=calls),
                   lineage=lineage, metadata=metadata)


# ------------------------------------------------------------------------------- curated


class CuratedCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class CuratedEpisode(BaseModel):
    """One entry of ``curated/episodes.yaml``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    backends: list[str] = Field(min_length=1)
    #: When the task takes place, e.g. "2026-03-10 09:00 (Tuesday)"; given where dates matter.
    now: str | None = None
    system: str | None = None
    user: str
    initial_state: dict[str, dict[str, Any]] = Field(default_factory=dict)
    calls: list[CuratedCall] = Field(min_length=1)
    #: backend -> state keys the end state compares (default: :func:`compared_keys`).
    compare: dict[str, list[str]] | None = None


class CuratedEpisodeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    episodes: list[CuratedEpisode] = Field(min_length=1)


def _load_curated_file(path: Path) -> list[CuratedEpisode]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise EpisodeSourceError(f"{path}: cannot read: {error}") from None
    try:
        return CuratedEpisodeFile.model_validate(raw).episodes
    except ValidationError as error:
        first = error.errors()[0]
        loc = [str(part) for part in first["loc"]]
        where = ".".join(loc)
        if len(loc) >= 2 and loc[0] == "episodes" and isinstance(raw, dict):
            items = raw.get("episodes") or []
            index = int(loc[1])
            item = items[index] if index < len(items) else None
            ident = item.get("id", f"#{index}") if isinstance(item, dict) else f"#{index}"
            where = f"episode {ident!r}: {'.'.join(loc[2:]) or 'entry'}"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise EpisodeSourceError(f"{path}: {where or 'top level'}: {message}") from None


def curated_episode(entry: CuratedEpisode) -> Episode:
    """The checked episode of one curated entry; :class:`EpisodeSourceError` names its id."""
    context = []
    if entry.system:
        context.append(Message(role=Role.SYSTEM, content=entry.system))
    context.append(Message(role=Role.USER, content=entry.user))
    lineage = Lineage(origin=OriginKind.SEED, iteration=0, stage="seed", source_item=entry.id,
                      notes=[f"curated-episode:{entry.id}"])
    calls = [ToolCall(name=call.name, arguments=call.arguments) for call in entry.calls]
    try:
        draft = _draft(entry.id, list(entry.backends), entry.initial_state, context, entry.now, calls,
                       lineage, {SOURCE_KEY: CURATED_SOURCE})
    except ValidationError as error:
        first = error.errors()[0]
        raise EpisodeSourceError(f"curated episode {entry.id!r}: {first['msg']}") from None
    structural = _structure_problems(draft)
    if structural:
        raise EpisodeSourceError(f"curated episode {entry.id!r}: " + "; ".join(structural))
    try:
        episode = with_replayed_end_state(draft, entry.compare)
    except (EpisodeSourceError, ValidationError, KeyError, ValueError) as error:
        message = str(error).removeprefix(f"episode {entry.id!r}: ")
        raise EpisodeSourceError(f"curated episode {entry.id!r}: {message}") from None
    problems = check_episode(episode)
    if problems:
        raise EpisodeSourceError(f"curated episode {entry.id!r}: " + "; ".join(problems))
    return episode


def curated_episodes(path: str | Path | None = None) -> list[Episode]:
    """Every curated episode of ``path`` (default: the shipped file), replayed and checked."""
    source = Path(path) if path is not None else CURATED_EPISODES_FILE
    entries = _load_curated_file(source)
    seen: set[str] = set()
    episodes: list[Episode] = []
    for entry in entries:
        if entry.id in seen:
            raise EpisodeSourceError(f"{source}: curated episode id {entry.id!r} appears twice")
        seen.add(entry.id)
        try:
            episodes.append(curated_episode(entry))
        except EpisodeSourceError as error:
            raise EpisodeSourceError(f"{source}: {error}") from None
    return episodes


# ------------------------------------------------------------------------------- dialogues


@dataclass(frozen=True)
class Skipped:
    """Why a dialogue gives no episode: a reason key (counted) and the detail (logged)."""

    reason: str
    detail: str


@dataclass
class DialogueConversion:
    """The episodes made from a batch of dialogues and how many were skipped, by reason."""

    episodes: list[Episode] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def converted(self) -> int:
        return len(self.episodes)


#: ``Dialogue.metadata`` keys read here: the validation status (``"accepted"``, written by the
#: dialogue runner), the date/time, and optional backend scenarios (backend -> initial state).
STATUS_KEY: Final = "status"
NOW_KEY: Final = "now"
SCENARIOS_KEY: Final = "scenarios"


def _first_turn(dialogue: Dialogue) -> tuple[list[Message], list[ToolCall]] | Skipped:
    """The context (system messages, first user message) and the calls answering it."""
    first = next((index for index, message in enumerate(dialogue.messages) if message.role == Role.USER), None)
    if first is None:
        return Skipped(NO_USER_TURN, "the dialogue has no user message")
    context = [message.model_copy(deep=True) for message in dialogue.messages[:first]
               if message.role == Role.SYSTEM]
    context.append(dialogue.messages[first].model_copy(deep=True))
    calls: list[ToolCall] = []
    for message in dialogue.messages[first + 1:]:
        if message.role == Role.USER:
            break
        if message.role == Role.ASSISTANT:
            calls.extend(ToolCall(name=call.name, arguments=call.arguments) for call in message.tool_calls)
    if not calls:
        return Skipped(NO_CALLS, "the first user turn is answered without a tool call")
    return context, calls


def convert_dialogue(dialogue: Dialogue) -> Episode | Skipped:
    """The episode of ``dialogue``'s first user turn, or why there is none."""
    status = dialogue.metadata.get(STATUS_KEY)
    if status is not None and status != "accepted":
        return Skipped(NOT_ACCEPTED, f"the dialogue was not accepted (status {status!r})")
    backends: list[str] = []
    for tool in dialogue.tools:
        backend = executable_backend_for(tool)
        if backend is None:
            return Skipped(NON_EXECUTABLE_TOOL, f"tool {tool.name!r} has no executable backend")
        if backend not in backends:
            backends.append(backend)
    if not backends:
        return Skipped(NON_EXECUTABLE_TOOL, "the dialogue offers no tool")
    turn = _first_turn(dialogue)
    if isinstance(turn, Skipped):
        return turn
    context, calls = turn
    scenarios = dialogue.metadata.get(SCENARIOS_KEY) or {}
    if not isinstance(scenarios, dict) or not all(isinstance(state, dict) for state in scenarios.values()):
        return Skipped(REPLAY_FAILED, f"metadata[{SCENARIOS_KEY!r}] is not a map of backend -> scenario")
    initial_state = {name: dict(state) for name, state in scenarios.items() if name in backends}
    now = dialogue.metadata.get(NOW_KEY)
    lineage = Lineage(origin=OriginKind.SEED, iteration=0, stage="seed", dialogue_id=dialogue.id,
                      source_item=dialogue.id, notes=["turn:0"])
    try:
        draft = _draft(f"{dialogue.id}-episode", sorted(backends), initial_state, context,
                       now if isinstance(now, str) and now.strip() else None, calls, lineage,
                       {SOURCE_KEY: DIALOGUE_SOURCE})
        environment_class(draft.backends)
    except (EpisodeEnvironmentError, ValidationError) as error:
        return Skipped(BACKENDS_CLASH, str(error))
    if dialogue.plan is not None and dialogue.plan.task.strip():  # what the simulated user wanted
        draft = draft.model_copy(update={"user": UserBrief(task=dialogue.plan.task.strip())})
    try:
        episode = with_replayed_end_state(draft)
    except (EpisodeSourceError, ValueError) as error:
        return Skipped(REPLAY_FAILED, str(error))
    problems = check_episode(episode)
    if problems:
        reason = NO_STATE_CHANGE if TRIVIAL in problems else REPLAY_FAILED
        return Skipped(reason, "; ".join(problems))
    return episode


def dialogue_to_episode(dialogue: Dialogue) -> Episode | None:
    """The episode of an accepted dialogue's first user turn; None (reason logged) when the
    dialogue cannot give one: a tool without an executable backend, no call answering the
    first user turn, a reference call that fails on replay, no change of state."""
    converted = convert_dialogue(dialogue)
    if isinstance(converted, Skipped):
        log.info("dialogue %s gives no episode (%s): %s", dialogue.id, converted.reason, converted.detail)
        return None
    return converted


def dialogues_to_episodes(dialogues: Iterable[Dialogue]) -> DialogueConversion:
    """The episodes of a batch of dialogues, with the skipped ones counted by reason."""
    result = DialogueConversion()
    for dialogue in dialogues:
        converted = convert_dialogue(dialogue)
        if isinstance(converted, Skipped):
            log.debug("dialogue %s gives no episode (%s): %s", dialogue.id, converted.reason, converted.detail)
            result.skipped[converted.reason] += 1
        else:
            result.episodes.append(converted)
    log.info("dialogues -> episodes: %d converted, %d skipped %s", result.converted,
             sum(result.skipped.values()), dict(sorted(result.skipped.items())))
    return result
