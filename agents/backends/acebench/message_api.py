"""ACEBench ``MessageApi``: a phone inbox of at most ``max_capacity`` messages."""

from __future__ import annotations

from typing import Any

from looptool.agents.backends.acebench.base_api import BaseApi
from looptool.agents.backends.base import ToolError
from looptool.agents.backends.registry import register_backend


@register_backend("acebench_message")
class MessageApi(BaseApi):
    """Text messages between six users (ACEBench ``MessageApi``)."""

    SNAPSHOT_FIELDS = ("inbox",)

    def __init__(self) -> None:
        super().__init__()
        self.max_capacity: int = 6
        self.user_list: dict[str, dict[str, Any]] = {}
        self.inbox: dict[str, dict[str, Any]] = {}
        self.message_id_counter: int = 0

    def _user_id(self, name: str) -> str:
        user = self.user_list.get(name)
        if user is None:
            raise ToolError(self._text("unknown_user", name=name))
        return str(user["user_id"])

    def _name_of(self, user_id: str) -> str:
        return next((name for name, user in self.user_list.items() if user["user_id"] == user_id), user_id)

    def send_message(self, sender_name: str, receiver_name: str, message: str) -> dict[str, Any]:
        """Send a text message from one user to another.

        Args:
            sender_name: Name of the sender.
            receiver_name: Name of the receiver.
            message: The text to send.
        """
        self._require_login()
        self._require_wifi()
        sender_id, receiver_id = self._user_id(sender_name), self._user_id(receiver_name)
        if len(self.inbox) >= self.max_capacity:
            raise ToolError(self._text("inbox_full"))
        self.message_id_counter += 1
        self.inbox[str(self.message_id_counter)] = {
            "sender_id": sender_id,
            "receiver_id": receiver_id,
            "message": message,
        }
        return {"status": True, "message": self._text("message_sent", name=receiver_name)}

    def delete_message(self, message_id: int) -> dict[str, Any]:
        """Delete a message by its ID.

        Args:
            message_id: ID of the message to delete.
        """
        self._require_login()
        key = str(message_id)
        if key not in self.inbox:
            raise ToolError(self._text("no_message", id=message_id))
        del self.inbox[key]
        return {"status": True, "message": self._text("message_deleted", id=message_id)}

    def view_messages_between_users(self, sender_name: str, receiver_name: str) -> dict[str, Any]:
        """List the messages one user sent to another.

        Args:
            sender_name: Name of the sender.
            receiver_name: Name of the receiver.
        """
        self._require_login()
        sender_id, receiver_id = self._user_id(sender_name), self._user_id(receiver_name)
        found = [
            {"id": int(key), "sender": sender_name, "receiver": receiver_name, "message": item["message"]}
            for key, item in self.inbox.items()
            if item["sender_id"] == sender_id and item["receiver_id"] == receiver_id
        ]
        if not found:
            return {"status": False, "message": self._text("no_messages")}
        return {"status": True, "messages": found}

    def search_messages(self, user_name: str, keyword: str) -> dict[str, Any]:
        """Find the messages a user sent or received that contain a keyword.

        Args:
            user_name: Name of the user.
            keyword: Text to look for (case-insensitive).
        """
        user_id = self._user_id(user_name)
        found = [
            {
                "id": int(key),
                "sender_id": item["sender_id"],
                "receiver_id": item["receiver_id"],
                "message": item["message"],
            }
            for key, item in self.inbox.items()
            if user_id in (item["sender_id"], item["receiver_id"]) and keyword.lower() in item["message"].lower()
        ]
        if not found:
            return {"status": False, "message": self._text("no_messages")}
        return {"status": True, "messages": found}

    def get_all_message_times_with_ids(self) -> dict[str, Any]:
        """The send time of every message that has one, by message ID."""
        return {key: item["time"] for key, item in self.inbox.items() if "time" in item}

    def _by_time(self, latest: bool) -> dict[str, Any]:
        timed = [(item["time"], key) for key, item in self.inbox.items() if "time" in item]
        if not timed:
            return {"status": False, "message": self._text("no_messages")}
        _, key = max(timed) if latest else min(timed)
        return {"status": True, "message_id": int(key)}

    def get_latest_message_id(self) -> dict[str, Any]:
        """The ID of the most recently sent message."""
        return self._by_time(latest=True)

    def get_earliest_message_id(self) -> dict[str, Any]:
        """The ID of the earliest sent message."""
        return self._by_time(latest=False)
