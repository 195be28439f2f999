"""The calendar/to-do backend: events with conflict checks, free slots, to-dos, scenarios."""

from __future__ import annotations

import json
from typing import Any

from looptool.agents.backends import create_backend
from looptool.agents.backends.base import ToolBackend
from looptool.schema import ToolCall


def call(backend: ToolBackend, name: str, **arguments: Any) -> tuple[bool, Any]:
    result = backend.execute(ToolCall(name=name, arguments=arguments))
    return result.ok, json.loads(result.content)


def test_events_conflicts_and_free_slots() -> None:
    cal = create_backend("calendar")
    ok, event = call(cal, "create_event", title="Standup", start="2026-03-14T09:30",
                     end="2026-03-14T10:00", attendees=["ana@example.com"])
    assert ok and event["id"] == "evt-1" and event["attendees"] == ["ana@example.com"]
    ok, error = call(cal, "create_event", title="Clash", start="2026-03-14T09:45", end="2026-03-14T11:00")
    assert not ok and "overlaps with evt-1 (Standup)" in error["error"]
    assert call(cal, "create_event", title="Lunch", start="2026-03-14T12:00", end="2026-03-14T13:00")[0]
    ok, error = call(cal, "create_event", title="Bad", start="tomorrow", end="2026-03-14T13:00")
    assert not ok and "not an ISO date-time" in error["error"]
    ok, slots = call(cal, "find_free_slots", day="2026-03-14", duration_minutes=90)
    assert slots == [{"start": "2026-03-14T10:00", "end": "2026-03-14T12:00"},
                     {"start": "2026-03-14T13:00", "end": "2026-03-14T17:00"}]
    ok, moved = call(cal, "update_event", event_id="evt-2", start="2026-03-14T09:00", end="2026-03-14T09:30")
    assert ok and moved["start"] == "2026-03-14T09:00"
    listed = call(cal, "list_events", start_date="2026-03-14", end_date="2026-03-14")[1]
    assert [item["id"] for item in listed] == ["evt-2", "evt-1"]
    assert call(cal, "delete_event", event_id="evt-9")[1] == {"error": "no event with id 'evt-9' (known: evt-1, evt-2)"}


def test_todos_and_scenario_round_trip() -> None:
    cal = create_backend("calendar", {"todos": [
        {"id": "todo-1", "title": "Taxes", "due_date": "2026-04-30", "priority": "high"}]})
    ok, todo = call(cal, "add_todo", title="Milk", priority="low")
    assert ok and todo["id"] == "todo-2"
    assert call(cal, "add_todo", title="X", priority="urgent")[0] is False
    assert [item["title"] for item in call(cal, "list_todos")[1]] == ["Taxes", "Milk"]
    assert call(cal, "complete_todo", todo_id="todo-1")[1]["done"] is True
    assert call(cal, "complete_todo", todo_id="todo-1")[1] == {"error": "todo-1 is already done"}
    assert [item["id"] for item in call(cal, "list_todos", status="done")[1]] == ["todo-1"]
    snapshot = cal.snapshot()
    again = create_backend("calendar", {"events": snapshot["events"], "todos": snapshot["todos"]})
    assert again.snapshot() == snapshot
