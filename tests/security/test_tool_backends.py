"""A model's tool calls cannot exhaust the machine: every built-in backend and the ACEBench
agent environments bound their state and each call's work, refuse bad input with a
``ToolError`` (never another exception) and change nothing when they refuse."""

from __future__ import annotations

import json
import random
import time

import pytest

from looptool.agents.backends import filesystem as fs_module
from looptool.agents.backends.acebench import AceEnvironment, load_initial_state
from looptool.agents.backends.acebench.environment import CLASSES
from looptool.agents.backends.base import ToolBackend, ToolError
from looptool.agents.backends.calculator import Calculator, evaluate_expression
from looptool.agents.backends.calendar import Calendar
from looptool.agents.backends.filesystem import MAX_NODES, MAX_PATH_CHARS, FileSystem
from looptool.agents.backends.registry import create_backend, list_backends
from looptool.agents.backends.specs import backend_tools
from looptool.benchmarks.acebench.paths import derived_state_file, resolve_data_dir
from looptool.schema import ToolCall
from tests.security.backend_fuzz import fuzz_backend, random_call, strict_json, strings_in

PER_CALL_S = 1.0
MEMORY_BYTES = 256 * 2**20


# ---------------------------------------------------------------- file system


def _fs_check(backend: ToolBackend) -> None:
    assert isinstance(backend, FileSystem)
    assert len(backend.files) + len(backend.directories) <= MAX_NODES
    assert sum(map(len, backend.files.values())) <= fs_module.MAX_TOTAL_CHARS
    assert all(len(path) <= MAX_PATH_CHARS for path in [*backend.files, *backend.directories])


def test_copying_a_tree_into_itself_stops_at_the_node_limit():
    fs = FileSystem()
    fs.load_scenario({"files": {"/d/f.txt": "x"}, "directories": ["/e"]})
    refused = 0
    for step in range(30):  # each pair of copies doubles the tree without a limit
        try:
            fs.copy("/d", f"/e/d{step}") if step % 2 else fs.copy("/e", f"/d/e{step}")
        except ToolError as error:
            assert "full" in str(error)
            refused += 1
    _fs_check(fs)
    assert refused > 0
    started = time.perf_counter()
    fs.ls("/d")
    fs.find("f.txt", "/")
    assert time.perf_counter() - started < PER_CALL_S


def test_a_refused_write_to_a_long_path_changes_nothing():
    fs = FileSystem()
    before = fs.snapshot()
    with pytest.raises(ToolError, match="longer than"):
        fs.write_file("a" * MAX_PATH_CHARS, "text")
    assert fs.snapshot() == before
    result = fs.execute(ToolCall(name="write_file", arguments={"path": "a" * MAX_PATH_CHARS, "content": "x"}))
    assert not result.ok and fs.snapshot() == before


def test_a_copy_whose_paths_grow_too_long_is_refused_whole():
    fs = FileSystem()
    deep = "/" + "/".join(["d" * 100] * 9)  # about 900 characters
    fs.load_scenario({"files": {deep + "/f.txt": "x"}, "directories": ["/" + "n" * 200]})
    before = fs.snapshot()
    with pytest.raises(ToolError, match="longer than"):
        fs.copy("/" + "d" * 100, "/" + "n" * 200)
    with pytest.raises(ToolError, match="longer than"):
        fs.move("/" + "d" * 100, "/" + "n" * 200)
    assert fs.snapshot() == before


def test_a_full_file_system_refuses_whole_copies(monkeypatch):
    monkeypatch.setattr(fs_module, "MAX_TOTAL_CHARS", 10)
    fs = FileSystem()
    fs.write_file("/a.txt", "x" * 6)
    fs.mkdir("/d")
    fs.write_file("/d/b.txt", "y" * 4)
    before = fs.snapshot()
    for call in (lambda: fs.copy("/d", "/e"), lambda: fs.write_file("/c.txt", "z"),
                 lambda: fs.write_file("/a.txt", "z", append=True)):
        with pytest.raises(ToolError, match="full"):
            call()
    assert fs.snapshot() == before


def test_mkdir_through_a_file_creates_nothing():
    fs = FileSystem()
    fs.write_file("/f", "x")
    before = fs.snapshot()
    with pytest.raises(ToolError, match="is a file"):
        fs.mkdir("/f/inside/deeper", parents=True)
    assert fs.snapshot() == before


# ---------------------------------------------------------------- calculator


def test_the_exponent_limit_fails_fast():
    """Cheap on purpose: without the limit ``2 ** 1001`` returns at once and this fails
    (``9 ** 9 ** 9`` would hang instead)."""
    with pytest.raises(ToolError, match="exponent"):
        evaluate_expression("2 ** 1001")


def test_round_with_a_huge_ndigits_is_refused():
    with pytest.raises(ToolError, match="ndigits"):
        evaluate_expression("round(5, -10**300)")


@pytest.mark.parametrize(
    ("value", "from_unit", "to_unit"),
    [(1e308, "km", "mm"), (float("inf"), "m", "km"), (float("nan"), "C", "F"), (-1e308, "GiB", "b")],
)
def test_convert_units_never_returns_a_non_finite_number(value, from_unit, to_unit):
    calculator = Calculator()
    with pytest.raises(ToolError, match="finite|too large"):
        calculator.convert_units(value, from_unit, to_unit)
    assert calculator.history == []


# ---------------------------------------------------------------- calendar


def test_a_huge_duration_is_a_tool_error():
    result = Calendar().execute(ToolCall(name="find_free_slots", arguments={"day": "2026-03-14", "duration_minutes": 10**20}))
    assert not result.ok and "duration_minutes" in (result.error or "")
    assert "internal error" not in (result.error or "")


@pytest.mark.parametrize("start", ["2026-03-14T09:00+05:00", "2026-03-14T09:00Z"])
def test_a_time_zone_offset_is_refused_clearly(start):
    calendar = Calendar()
    with pytest.raises(ToolError, match="time zone offset"):
        calendar.create_event("x", start, "2026-03-14T10:00")
    assert calendar.events == {}


@pytest.mark.parametrize("value", ["2026-03-14garbage", "2026-03-14 and more", "14/03/2026"])
def test_a_date_with_trailing_text_is_refused(value):
    calendar = Calendar()
    with pytest.raises(ToolError, match="not a date"):
        calendar.add_todo("x", due_date=value)
    with pytest.raises(ToolError, match="not a date"):
        calendar.list_events(start_date=value)
    assert calendar.todos == {}


def test_dates_and_date_times_are_still_accepted():
    calendar = Calendar()
    assert calendar.add_todo("x", due_date="2026-03-14").due_date == "2026-03-14"
    assert calendar.add_todo("y", due_date="2026-03-14T09:30").due_date == "2026-03-14"


# ---------------------------------------------------------------- fuzz


BUILTIN = [name for name in list_backends() if not name.startswith("acebench_")]  # below, with data


@pytest.mark.parametrize("name", BUILTIN)
def test_fuzz_builtin_backend(name):
    backend = create_backend(name)
    if isinstance(backend, FileSystem):
        backend.load_scenario({"files": {"/docs/a.txt": "alpha\nbeta", "/b.txt": "x"}, "directories": ["/d"]})
    check = _fs_check if isinstance(backend, FileSystem) else None
    report = fuzz_backend(backend, seed=12, budget_s=1.5, per_call_s=PER_CALL_S, check=check)
    assert report.calls >= 200, report
    assert 0 < report.refused < report.calls, report  # both paths exercised
    assert report.peak_bytes < MEMORY_BYTES, report


@pytest.fixture(scope="module")
def ace_initial_states() -> dict[str, dict[str, dict[str, object]]]:
    root = resolve_data_dir()
    return {language: load_initial_state(derived_state_file(root, language)) for language in CLASSES}


@pytest.mark.parametrize(("language", "class_name"), [(lang, name) for lang in CLASSES for name in CLASSES[lang]])
def test_fuzz_acebench_class(ace_initial_states, language, class_name):
    environment = AceEnvironment(language, [class_name], {}, ace_initial_states[language])
    backend = environment.instances[class_name]
    strings = strings_in(ace_initial_states[language].get(class_name, {}))
    report = fuzz_backend(backend, seed=12, budget_s=0.75, per_call_s=PER_CALL_S, strings=strings)
    assert report.calls >= 100, report
    assert report.peak_bytes < MEMORY_BYTES, report


@pytest.mark.parametrize("language", list(CLASSES))
def test_fuzz_acebench_environment_dispatch(ace_initial_states, language):
    """Upstream's dispatch calls methods with the raw arguments (no schema check): whatever
    they are, an outcome comes back and nothing raises."""
    classes = list(CLASSES[language])
    environment = AceEnvironment(language, classes, {"BaseApi": {"wifi": True}}, ace_initial_states[language])
    tools = {name: tool for instance in environment.instances.values() for name, tool in backend_tools(type(instance)).items()}
    strings = strings_in(ace_initial_states[language])
    rng = random.Random(12)
    deadline = time.perf_counter() + 1.5
    calls = 0
    while time.perf_counter() < deadline and calls < 5_000:
        call = random_call(rng, tools, strings)
        started = time.perf_counter()
        outcome = environment.execute(call)
        assert time.perf_counter() - started < PER_CALL_S, call
        json.dumps(outcome.result, default=str)
        calls += 1
    strict_json(environment.snapshot())
    assert calls >= 100
