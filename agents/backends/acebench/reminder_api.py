"""ACEBench ``ReminderApi``: titled reminders with a time (zh adds two tools)."""

from __future__ import annotations

from typing import Any

from looptool.agents.backends.acebench.base_api import BaseApi
from looptool.agents.backends.base import ToolError
from looptool.agents.backends.registry import register_backend


@register_backend("acebench_reminder")
class ReminderApi(BaseApi):
    """Reminders (ACEBench ``ReminderApi``, English version)."""

    SNAPSHOT_FIELDS = ("reminder_list",)

    def __init__(self) -> None:
        super().__init__()
        self.max_capacity: int = 6
        self.reminder_list: dict[str, dict[str, Any]] = {}
        self.reminder_id_counter: int = 0

    def _find(self, reminder_id: int) -> str:
        key = str(reminder_id)
        if key in self.reminder_list:
            return key
        for existing, item in self.reminder_list.items():  # ids 1001.. live under keys 1..
            if item.get("reminder_id") == reminder_id:
                return existing
        raise ToolError(self._text("no_reminder", item=reminder_id))

    def add_reminder(self, title: str, description: str, time: str) -> dict[str, Any]:
        """Add a reminder.

        Args:
            title: Title of the reminder.
            description: What to be reminded of.
            time: When, as YYYY-MM-DD HH:MM.
        """
        self._require_login()
        if len(self.reminder_list) >= self.max_capacity:
            raise ToolError(self._text("reminders_full"))
        self.reminder_id_counter += 1
        self.reminder_list[str(self.reminder_id_counter)] = {
            "reminder_id": self.reminder_id_counter,
            "title": title,
            "description": description,
            "time": time,
            "notified": False,
        }
        return {"status": True, "message": self._text("reminder_added", title=title)}

    def delete_reminder(self, reminder_id: int) -> dict[str, Any]:
        """Delete a reminder.

        Args:
            reminder_id: ID of the reminder.
        """
        self._require_login()
        key = self._find(reminder_id)
        del self.reminder_list[key]
        return {"status": True, "message": self._text("reminder_deleted", item=reminder_id)}

    def view_reminder_by_title(self, title: str) -> dict[str, Any]:
        """Show the reminder with exactly this title.

        Args:
            title: The reminder's title.
        """
        self._require_login()
        for item in self.reminder_list.values():
            if item["title"] == title:
                return {"status": True, "reminder": dict(item)}
        raise ToolError(self._text("no_reminder", item=title))

    def view_all_reminders(self) -> dict[str, Any]:
        """List every reminder."""
        self._require_login()
        return {"status": True, "reminders": [dict(item) for item in self.reminder_list.values()]}


@register_backend("acebench_reminder_zh")
class ReminderApiZh(ReminderApi):
    """Reminders (ACEBench ``ReminderApi``, Chinese version, with two more tools)."""

    def mark_as_notified(self, reminder_id: int) -> dict[str, Any]:
        """Mark a reminder as notified.

        Args:
            reminder_id: ID of the reminder.
        """
        self._require_login()
        key = self._find(reminder_id)
        self.reminder_list[key]["notified"] = True
        return {"status": True, "message": self._text("reminder_notified", item=reminder_id)}

    def search_reminders(self, keyword: str) -> dict[str, Any]:
        """Find reminders whose title or description contains a keyword.

        Args:
            keyword: Text to look for.
        """
        self._require_login()
        found = [
            dict(item)
            for item in self.reminder_list.values()
            if keyword in item["title"] or keyword in item["description"]
        ]
        return {"status": bool(found), "reminders": found}
