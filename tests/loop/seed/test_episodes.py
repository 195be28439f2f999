"""Episode sources: the verifier, the curated episodes, conversion of accepted dialogues."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from looptool.agents.backends.calendar import Calendar
from looptool.agents.backends.episode_env import environment_for, run_call
from looptool.agents.backends.filesystem import FileSystem
from looptool.episodes import Episode, end_state_differences
from looptool.loop.seed import load_catalog
from looptool.loop.seed.episodes import (
    IGNORED_STATE_KEYS,
    NO_CALLS,
    NO_STATE_CHANGE,
    NON_EXECUTABLE_TOOL,
    NOT_ACCEPTED,
    REPLAY_FAILED,
    TRIVIAL,
    EpisodeSourceError,
    check_episode,
    curated_episodes,
    dialogue_to_episode,
    dialogues_to_episodes,
)
from looptool.schema import Dialogue, Message, OriginKind, Role, ToolCall, ToolSpec


@pytest.fixture(scope="module")
def curated() -> list[Episode]:
    return curated_episodes()


# ------------------------------------------------------------------------------- curated


def test_every_curated_episode_passes_the_check(curated: list[Episode]) -> None:
    for episode in curated:
        assert check_episode(episode) == [], episode.id
        assert Episode.model_validate_json(episode.model_dump_json()) == episode


def test_curated_counts_backends_and_lengths(curated: list[Episode]) -> None:
    assert len(curated) >= 40
    assert len({episode.id for episode in curated}) == len(curated)
    by_backends = Counter("+".join(sorted(episode.backends)) for episode in curated)
    assert by_backends["filesystem"] >= 10 and by_backends["calendar"] >= 10
    assert by_backends["calendar+filesystem"] >= 5
    assert {len(episode.expected.calls) for episode in curated} <= {2, 3, 4}


def test_curated_lineage_and_compared_keys(curated: list[Episode]) -> None:
    for episode in curated:
        assert episode.lineage.origin == OriginKind.SEED and episode.lineage.stage == "seed"
        assert episode.lineage.source_item == episode.id
        assert episode.metadata == {"source": "curated"}
        assert set(episode.expected.end_state) == set(episode.backends)
        for backend, keys in episode.expected.end_state.items():
            assert not set(keys) & IGNORED_STATE_KEYS[backend], episode.id
    # the counters and the working directory are generated or incidental, never compared
    assert dict(IGNORED_STATE_KEYS) == {"filesystem": {"cwd"}, "calendar": {"next_event_number", "next_todo_number"}}


def test_curated_end_state_was_computed_by_replay(curated: list[Episode]) -> None:
    episode = next(item for item in curated if item.id == "cal.passport_todo_new_due")
    todos = episode.expected.end_state["calendar"]["todos"]
    # the re-added to-do got the backend's next id, which the YAML never states
    assert sorted(todos) == ["todo-2", "todo-3"]
    assert todos["todo-3"]["priority"] == "high" and todos["todo-3"]["due_date"] == "2026-03-17"


def test_dates_are_given_where_they_matter(curated: list[Episode]) -> None:
    dated = [episode for episode in curated if any(
        call.name in ("create_event", "update_event", "list_events", "find_free_slots")
        or "due_date" in call.arguments for call in episode.expected.calls)]
    relative = [episode.id for episode in dated if episode.now is None
                and any(word in episode.context[-1].content.lower()
                        for word in ("tomorrow", "today", "tonight", "friday", "thursday", "monday", "next"))]
    assert relative == []


def test_the_template_catalog_ignores_the_episode_file() -> None:
    catalog = load_catalog()
    assert all(bound.file.name != "episodes.yaml" for bound in catalog.templates.values())


def write_entries(folder: Path, body: str) -> Path:
    path = folder / "episodes.yaml"
    path.write_text("episodes:\n" + body, encoding="utf-8")
    return path


GOOD_ENTRY = """\
  - id: fs.ok
    backends: [filesystem]
    user: "Make /a and put an empty b.txt in it."
    calls:
      - {name: mkdir, arguments: {path: /a}}
      - {name: write_file, arguments: {path: /a/b.txt, content: ""}}
"""


@pytest.mark.parametrize(("entry", "message"), [
    ("""\
  - id: fs.broken_call
    backends: [filesystem]
    user: "Move x."
    calls:
      - {name: move, arguments: {source: /x.txt, destination: /y.txt}}
      - {name: mkdir, arguments: {path: /z}}
""", "reference call 1 (move) failed"),
    ("""\
  - id: fs.foreign_tool
    backends: [filesystem]
    user: "Add a to-do."
    calls:
      - {name: add_todo, arguments: {title: x}}
      - {name: mkdir, arguments: {path: /z}}
""", "names tool 'add_todo'"),
    ("""\
  - id: fs.read_only
    backends: [filesystem]
    user: "What's in /n.txt?"
    initial_state:
      filesystem: {files: {/n.txt: "hi"}}
    calls:
      - {name: read_file, arguments: {path: /n.txt}}
      - {name: ls, arguments: {}}
""", TRIVIAL),
    ("""\
  - id: fs.bad_key
    backends: [filesystem]
    user: "Make /a."
    compare: {filesystem: [files, folders]}
    calls:
      - {name: mkdir, arguments: {path: /a}}
""", "no state key(s) ['folders']"),
    ("""\
  - id: fs.bad_scenario
    backends: [filesystem]
    user: "Make /a."
    initial_state:
      filesystem: {disks: [1]}
    calls:
      - {name: mkdir, arguments: {path: /a}}
""", "unknown key(s) ['disks']"),
])
def test_a_broken_entry_is_refused_by_its_id(tmp_path: Path, entry: str, message: str) -> None:
    path = write_entries(tmp_path, GOOD_ENTRY + entry)
    ident = entry.split("id: ")[1].split("\n")[0]
    with pytest.raises(EpisodeSourceError) as caught:
        curated_episodes(path)
    assert f"curated episode {ident!r}" in str(caught.value)
    assert message in str(caught.value)


def test_a_file_error_names_the_entry_and_repeated_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EpisodeSourceError, match="episode 'fs.no_calls': calls"):
        curated_episodes(write_entries(tmp_path, GOOD_ENTRY + "  - {id: fs.no_calls, backends: [filesystem], user: x, calls: []}\n"))
    with pytest.raises(EpisodeSourceError, match="'fs.ok' appears twice"):
        curated_episodes(write_entries(tmp_path, GOOD_ENTRY + GOOD_ENTRY))
    assert [episode.id for episode in curated_episodes(write_entries(tmp_path, GOOD_ENTRY))] == ["fs.ok"]


def test_compare_limits_the_end_state_to_the_keys_named(tmp_path: Path) -> None:
    entry = GOOD_ENTRY.replace('    user:', '    compare: {filesystem: [files]}\n    user:')
    (episode,) = curated_episodes(write_entries(tmp_path, entry))
    assert episode.expected.end_state == {"filesystem": {"files": {"/a/b.txt": ""}}}


# ------------------------------------------------------------------------------- verifier


def test_check_episode_finds_each_problem(curated: list[Episode]) -> None:
    episode = next(item for item in curated if item.id == "fs.archive_old_logs")
    wrong_end = episode.model_copy(deep=True)
    wrong_end.expected.end_state["filesystem"]["files"]["/logs/extra.log"] = ""
    assert check_episode(wrong_end) == ["after the reference calls, filesystem.files: differs from the expected end state"]

    trivial = episode.model_copy(deep=True)
    trivial.expected.end_state = {"filesystem": {"files": dict(episode.initial_state["filesystem"]["files"])}}
    assert TRIVIAL in check_episode(trivial)

    failing = episode.model_copy(deep=True)
    failing.expected.calls.insert(1, ToolCall(name="read_file", arguments={"path": "/missing.txt"}))
    problems = check_episode(failing)
    assert len(problems) == 1 and problems[0].startswith("reference call 2 (read_file) failed") and "no such file" in problems[0]

    foreign = episode.model_copy(deep=True)
    foreign.expected.calls.append(ToolCall(name="add_todo", arguments={"title": "x"}))
    assert check_episode(foreign) == ["reference call 4 names tool 'add_todo', which none of the backends ['filesystem'] offers"]

    unknown = episode.model_copy(deep=True)
    unknown.backends = ["nope"]
    (problem,) = check_episode(unknown)
    assert problem.startswith("its backends cannot form an environment: unknown backend 'nope'")

    uncalled = episode.model_copy(deep=True)
    uncalled.expected.calls = []
    assert any("no reference calls" in problem for problem in check_episode(uncalled))


# ------------------------------------------------------------------------------- dialogues

FS_TOOLS = {spec.name: spec for spec in FileSystem.tool_specs()}
CAL_TOOLS = {spec.name: spec for spec in Calendar.tool_specs()}
WEATHER = ToolSpec(name="get_weather", description="Weather now.",
                   parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def call_message(*calls: ToolCall) -> Message:
    return Message(role=Role.ASSISTANT, tool_calls=list(calls))


def dialogue(dialogue_id: str = "dlg-000001", tools: list[ToolSpec] | None = None,
             first_calls: list[ToolCall] | None = None, **metadata: object) -> Dialogue:
    first = first_calls if first_calls is not None else [
        ToolCall(name="mkdir", arguments={"path": "/trip"}, id="c1"),
        ToolCall(name="write_file", arguments={"path": "/trip/packing.txt", "content": "passport\n"}, id="c2"),
    ]
    messages = [
        Message(role=Role.SYSTEM, content="You help with files."),
        Message(role=Role.USER, content="Make a trip folder with a packing list that says passport."),
    ]
    if first:
        messages.append(call_message(first[0]))
        messages.append(Message(role=Role.TOOL, content='"/trip"', tool_call_id="c1", name=first[0].name))
        for call in first[1:]:
            messages.append(call_message(call))
            messages.append(Message(role=Role.TOOL, content="{}", tool_call_id=call.id, name=call.name))
    messages += [
        Message(role=Role.ASSISTANT, content="Done."),
        Message(role=Role.USER, content="Also remove it again."),
        call_message(ToolCall(name="remove", arguments={"path": "/trip", "recursive": True}, id="c3")),
        Message(role=Role.TOOL, content="[]", tool_call_id="c3", name="remove"),
    ]
    offered = tools if tools is not None else [FS_TOOLS["mkdir"], FS_TOOLS["write_file"], FS_TOOLS["remove"]]
    return Dialogue(id=dialogue_id, tools=offered, messages=messages,
                    metadata={"status": "accepted", **metadata})


def test_a_filesystem_dialogue_becomes_an_episode_whose_replay_reaches_its_end_state() -> None:
    episode = dialogue_to_episode(dialogue(now="2026-03-10 09:00"))
    assert episode is not None
    assert episode.backends == ["filesystem"] and episode.initial_state == {}
    assert [message.role for message in episode.context] == [Role.SYSTEM, Role.USER]
    assert episode.context[-1].content.startswith("Make a trip folder")
    # the calls of the first user turn only, without their dialogue ids
    assert episode.expected.calls == [ToolCall(name="mkdir", arguments={"path": "/trip"}),
                                      ToolCall(name="write_file", arguments={"path": "/trip/packing.txt", "content": "passport\n"})]
    assert episode.expected.end_state == {"filesystem": {"files": {"/trip/packing.txt": "passport\n"},
                                                         "directories": ["/", "/trip"]}}
    assert episode.now == "2026-03-10 09:00"
    assert episode.lineage.dialogue_id == "dlg-000001" and episode.lineage.source_item == "dlg-000001"
    assert episode.lineage.origin == OriginKind.SEED and episode.lineage.stage == "seed"
    assert episode.metadata == {"source": "dialogue"}
    assert check_episode(episode) == []
    environment = environment_for(episode)
    for call in episode.expected.calls:
        assert run_call(environment, call).ok
    assert end_state_differences(episode.expected.end_state, environment.final_state) == []


def test_recorded_scenarios_are_the_initial_state() -> None:
    scenarios = {"filesystem": {"files": {"/old.txt": "x"}}, "calendar": {"events": []}}
    episode = dialogue_to_episode(dialogue(scenarios=scenarios))
    assert episode is not None
    assert episode.initial_state == {"filesystem": {"files": {"/old.txt": "x"}}}  # only its backends
    assert "/old.txt" in episode.expected.end_state["filesystem"]["files"]


def test_a_dialogue_over_both_backends() -> None:
    calls = [ToolCall(name="mkdir", arguments={"path": "/notes"}, id="c1"),
             ToolCall(name="add_todo", arguments={"title": "Write notes"}, id="c2")]
    episode = dialogue_to_episode(dialogue(tools=[FS_TOOLS["mkdir"], FS_TOOLS["remove"], CAL_TOOLS["add_todo"]],
                                           first_calls=calls))
    assert episode is not None and episode.backends == ["calendar", "filesystem"]
    assert set(episode.expected.end_state["calendar"]) == {"events", "todos"}
    assert check_episode(episode) == []


def test_dialogues_that_give_no_episode_are_counted_by_reason(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="looptool.loop.seed.episodes")
    weather = dialogue("dlg-weather", tools=[*dialogue().tools, WEATHER])
    assert dialogue_to_episode(weather) is None
    assert "dlg-weather gives no episode (non_executable_tool): tool 'get_weather'" in caplog.text
    batch = [
        dialogue("dlg-1"),
        weather,
        dialogue("dlg-2", first_calls=[]),
        dialogue("dlg-3", first_calls=[ToolCall(name="ls", arguments={}, id="c1")]),
        dialogue("dlg-4", first_calls=[ToolCall(name="remove", arguments={"path": "/nope"}, id="c1")]),
        dialogue("dlg-5", status="rejected"),
        dialogue("dlg-6"),
        dialogue("dlg-7", scenarios=["not", "a", "map"]),
        dialogue("dlg-8", scenarios={"filesystem": {"disks": []}}),
    ]
    batch[3].tools.append(FS_TOOLS["ls"])
    result = dialogues_to_episodes(batch)
    assert [episode.id for episode in result.episodes] == ["dlg-1-episode", "dlg-6-episode"]
    assert result.converted == 2
    assert result.skipped == {NON_EXECUTABLE_TOOL: 1, NO_CALLS: 1, NO_STATE_CHANGE: 1, REPLAY_FAILED: 3,
                              NOT_ACCEPTED: 1}


def test_the_dialogue_plan_becomes_the_simulated_users_brief() -> None:
    from looptool.schema import Plan

    planned = dialogue().model_copy(update={"plan": Plan(task="Organise my trip folder", turns=2)})
    episode = dialogue_to_episode(planned)
    assert episode is not None and episode.user is not None and episode.user.task == "Organise my trip folder"
    unplanned = dialogue_to_episode(dialogue())
    assert unplanned is not None and unplanned.user is None
    assert unplanned.user_brief().task == unplanned.context[-1].content
