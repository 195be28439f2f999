"""The ``calendar`` backend: events with conflict checks and a to-do list.

Times are ISO 8601 strings without time zone (``2026-03-14T09:30``): the calendar has one
local time, so a time with an offset (``+05:00``, ``Z``) is refused rather than guessed at.
Dates are ``YYYY-MM-DD`` (or a date-time, whose date is used); anything else is refused.
Identifiers are deterministic (``evt-1``, ``todo-1``, ...) so end states compare exactly.
At most :data:`MAX_ITEMS` events and as many to-dos, so one call's work is bounded.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from looptool.agents.backends.base import ToolBackend, ToolError
from looptool.agents.backends.registry import register_backend

Priority = Literal["low", "medium", "high"]
MAX_ITEMS = 10_000
MINUTES_PER_DAY = 24 * 60


class Event(BaseModel):
    id: str
    title: str
    start: str
    end: str
    location: str | None = None
    attendees: list[str] = Field(default_factory=list)


class Todo(BaseModel):
    id: str
    title: str
    due_date: str | None = None
    priority: Priority = "medium"
    done: bool = False


class Slot(BaseModel):
    start: str
    end: str


def _parse_datetime(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise ToolError(f"{field}: {str(value)[:60]!r} is not an ISO date-time like 2026-03-14T09:30") from None
    return _local(parsed, value, field).replace(second=0, microsecond=0)


def _local(parsed: datetime, value: str, field: str) -> datetime:
    if parsed.tzinfo is not None:
        raise ToolError(
            f"{field}: {value[:60]!r} has a time zone offset; give the calendar's local time "
            "without one, like 2026-03-14T09:30"
        )
    return parsed


def _parse_date(value: str, field: str) -> date:
    """A ``YYYY-MM-DD`` date, or the date of an ISO date-time (an offset is refused)."""
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        pass
    try:
        parsed = datetime.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise ToolError(f"{field}: {str(value)[:60]!r} is not a date like 2026-03-14") from None
    return _local(parsed, value, field).date()


def _parse_time(value: str, field: str) -> time:
    try:
        return time.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise ToolError(f"{field}: {value!r} is not a time like 09:00") from None


def _fmt(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


@register_backend("calendar")
class Calendar(ToolBackend):
    """A personal calendar of events and a to-do list."""

    def __init__(self) -> None:
        self.events: dict[str, Event] = {}
        self.todos: dict[str, Todo] = {}
        self.next_event_number: int = 1
        self.next_todo_number: int = 1

    def load_scenario(self, scenario: dict[str, Any]) -> None:
        """Accepts ``events`` and ``todos`` as lists (or id -> object maps) of objects."""
        unknown = sorted(set(scenario) - {"events", "todos"})
        if unknown:
            raise ValueError(f"calendar scenario: unknown key(s) {unknown}; known: ['events', 'todos']")
        self.events = {}
        self.todos = {}
        for kind, model, store in (("events", Event, self.events), ("todos", Todo, self.todos)):
            items = scenario.get(kind, [])
            values = list(items.values()) if isinstance(items, dict) else list(items)
            for raw in values:
                item = model.model_validate(raw)
                store[item.id] = item  # type: ignore[assignment]
        self.next_event_number = len(self.events) + 1
        self.next_todo_number = len(self.todos) + 1
        while f"evt-{self.next_event_number}" in self.events:
            self.next_event_number += 1
        while f"todo-{self.next_todo_number}" in self.todos:
            self.next_todo_number += 1

    def _event(self, event_id: str) -> Event:
        if event_id not in self.events:
            known = ", ".join(self.events) or "none"
            raise ToolError(f"no event with id {event_id!r} (known: {known})")
        return self.events[event_id]

    def _todo(self, todo_id: str) -> Todo:
        if todo_id not in self.todos:
            known = ", ".join(self.todos) or "none"
            raise ToolError(f"no to-do with id {todo_id!r} (known: {known})")
        return self.todos[todo_id]

    def _conflicts(self, start: datetime, end: datetime, ignore: str | None = None) -> list[Event]:
        return [
            event for event in self.events.values()
            if event.id != ignore
            and _parse_datetime(event.start, "start") < end
            and start < _parse_datetime(event.end, "end")
        ]

    def create_event(
        self,
        title: str,
        start: str,
        end: str,
        location: str | None = None,
        attendees: list[str] | None = None,
        allow_overlap: bool = False,
    ) -> Event:
        """Add an event to the calendar.

        Args:
            title: Short name of the event.
            start: Start as an ISO date-time, e.g. "2026-03-14T09:30".
            end: End as an ISO date-time, after the start.
            location: Where it takes place.
            attendees: Names or e-mail addresses of the people invited.
            allow_overlap: Create it even if it overlaps an existing event.
        """
        if not title.strip():
            raise ToolError("title is empty")
        begin = _parse_datetime(start, "start")
        finish = _parse_datetime(end, "end")
        if finish <= begin:
            raise ToolError("end must be after start")
        if len(self.events) >= MAX_ITEMS:
            raise ToolError(f"the calendar is full (at most {MAX_ITEMS} events)")
        clashes = self._conflicts(begin, finish)
        if clashes and not allow_overlap:
            names = ", ".join(f"{event.id} ({event.title})" for event in clashes)
            raise ToolError(f"overlaps with {names}; pass allow_overlap=true to add it anyway")
        event = Event(id=f"evt-{self.next_event_number}", title=title.strip(), start=_fmt(begin),
                      end=_fmt(finish), location=location, attendees=list(attendees or []))
        self.next_event_number += 1
        self.events[event.id] = event
        return event

    def list_events(self, start_date: str | None = None, end_date: str | None = None) -> list[Event]:
        """List events in chronological order, optionally within a date range.

        Args:
            start_date: First day to include, "YYYY-MM-DD".
            end_date: Last day to include, "YYYY-MM-DD".
        """
        first = _parse_date(start_date, "start_date") if start_date else date.min
        last = _parse_date(end_date, "end_date") if end_date else date.max
        if last < first:
            raise ToolError("end_date is before start_date")
        chosen = [
            event for event in self.events.values()
            if _parse_datetime(event.end, "end").date() >= first
            and _parse_datetime(event.start, "start").date() <= last
        ]
        return sorted(chosen, key=lambda event: (event.start, event.id))

    def get_event(self, event_id: str) -> Event:
        """Return one event.

        Args:
            event_id: The event's id, e.g. "evt-1".
        """
        return self._event(event_id)

    def update_event(
        self,
        event_id: str,
        title: str | None = None,
        start: str | None = None,
        end: str | None = None,
        location: str | None = None,
    ) -> Event:
        """Change the title, time or location of an event; omitted fields stay as they are.

        Args:
            event_id: The event's id.
            title: New title.
            start: New start, ISO date-time.
            end: New end, ISO date-time.
            location: New location.
        """
        event = self._event(event_id)
        begin = _parse_datetime(start or event.start, "start")
        finish = _parse_datetime(end or event.end, "end")
        if finish <= begin:
            raise ToolError("end must be after start")
        clashes = self._conflicts(begin, finish, ignore=event_id)
        if clashes and (start or end):
            names = ", ".join(f"{other.id} ({other.title})" for other in clashes)
            raise ToolError(f"the new time overlaps with {names}")
        updated = event.model_copy(update={
            "title": title.strip() if title else event.title,
            "start": _fmt(begin), "end": _fmt(finish),
            "location": location if location is not None else event.location,
        })
        self.events[event_id] = updated
        return updated

    def delete_event(self, event_id: str) -> Event:
        """Remove an event and return it.

        Args:
            event_id: The event's id.
        """
        return self.events.pop(self._event(event_id).id)

    def find_free_slots(
        self, day: str, duration_minutes: int, day_start: str = "09:00", day_end: str = "17:00"
    ) -> list[Slot]:
        """Find free time slots of at least a given length on one day.

        Args:
            day: The day, "YYYY-MM-DD".
            duration_minutes: Minimum length of a slot in minutes.
            day_start: Earliest time to consider, "HH:MM".
            day_end: Latest time to consider, "HH:MM".
        """
        if not 0 < duration_minutes <= MINUTES_PER_DAY:
            raise ToolError(f"duration_minutes must be between 1 and {MINUTES_PER_DAY}")
        the_day = _parse_date(day, "day")
        cursor = datetime.combine(the_day, _parse_time(day_start, "day_start"))
        limit = datetime.combine(the_day, _parse_time(day_end, "day_end"))
        if limit <= cursor:
            raise ToolError("day_end must be after day_start")
        busy = sorted(
            (max(_parse_datetime(event.start, "start"), cursor),
             min(_parse_datetime(event.end, "end"), limit))
            for event in self._conflicts(cursor, limit)
        )
        slots: list[Slot] = []
        need = timedelta(minutes=duration_minutes)
        for busy_start, busy_end in busy:
            if busy_start - cursor >= need:
                slots.append(Slot(start=_fmt(cursor), end=_fmt(busy_start)))
            cursor = max(cursor, busy_end)
        if limit - cursor >= need:
            slots.append(Slot(start=_fmt(cursor), end=_fmt(limit)))
        return slots

    def add_todo(self, title: str, due_date: str | None = None, priority: Priority = "medium") -> Todo:
        """Add an item to the to-do list.

        Args:
            title: What needs doing.
            due_date: When it is due, "YYYY-MM-DD".
            priority: How urgent it is.
        """
        if not title.strip():
            raise ToolError("title is empty")
        due = _parse_date(due_date, "due_date").isoformat() if due_date else None
        if len(self.todos) >= MAX_ITEMS:
            raise ToolError(f"the to-do list is full (at most {MAX_ITEMS} items)")
        todo = Todo(id=f"todo-{self.next_todo_number}", title=title.strip(), due_date=due,
                    priority=priority)
        self.next_todo_number += 1
        self.todos[todo.id] = todo
        return todo

    def list_todos(self, status: Literal["open", "done", "all"] = "open") -> list[Todo]:
        """List to-do items, most urgent first.

        Args:
            status: Which items: not yet done, done, or all.
        """
        rank = {"high": 0, "medium": 1, "low": 2}
        chosen = [
            todo for todo in self.todos.values()
            if status == "all" or (todo.done == (status == "done"))
        ]
        return sorted(chosen, key=lambda t: (rank[t.priority], t.due_date or "9999", t.id))

    def complete_todo(self, todo_id: str) -> Todo:
        """Mark a to-do item as done.

        Args:
            todo_id: The item's id, e.g. "todo-1".
        """
        todo = self._todo(todo_id)
        if todo.done:
            raise ToolError(f"{todo_id} is already done")
        updated = todo.model_copy(update={"done": True})
        self.todos[todo_id] = updated
        return updated

    def delete_todo(self, todo_id: str) -> Todo:
        """Remove a to-do item and return it.

        Args:
            todo_id: The item's id.
        """
        return self.todos.pop(self._todo(todo_id).id)
