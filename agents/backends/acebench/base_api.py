"""ACEBench ``BaseApi``: the phone's Wi-Fi and device login, shared by the phone apps."""

from __future__ import annotations

from typing import Any

from looptool.agents.backends.acebench.texts import text
from looptool.agents.backends.base import ToolBackend, ToolError, not_a_tool
from looptool.agents.backends.registry import register_backend


@register_backend("acebench_base_api")
class BaseApi(ToolBackend):
    """A phone: Wi-Fi switch and device login (ACEBench ``BaseApi``)."""

    #: attributes upstream records in the end-state snapshot
    SNAPSHOT_FIELDS: tuple[str, ...] = ("wifi", "logged_in")

    def __init__(self) -> None:
        self.wifi: bool = False
        self.logged_in: bool = True
        self._language: str = "en"

    @not_a_tool
    def set_language(self, language: str) -> None:
        """Choose the language of returned messages (``en`` or ``zh``)."""
        self._language = language

    def _text(self, key: str, **values: object) -> str:
        return text(self._language, key, **values)

    def _require_login(self) -> None:
        if not self.logged_in:
            raise ToolError(self._text("not_logged_in"))

    def _require_wifi(self) -> None:
        if not self.wifi:
            raise ToolError(self._text("no_wifi"))

    def snapshot(self) -> dict[str, Any]:
        """The attributes ACEBench compares at the end of an episode."""
        full = super().snapshot()
        return {key: full[key] for key in self.SNAPSHOT_FIELDS if key in full}

    def load_scenario(self, scenario: dict[str, Any]) -> None:
        """Set state; ``wifi``/``logged_in`` may come from the episode's ``BaseApi`` config."""
        super().load_scenario(scenario)

    def turn_on_wifi(self) -> dict[str, Any]:
        """Turn on the phone's Wi-Fi."""
        self.wifi = True
        return {"status": True, "message": self._text("wifi_on")}

    def login_device(self) -> dict[str, Any]:
        """Log in to the phone."""
        self.logged_in = True
        return {"status": True, "message": self._text("logged_in")}
