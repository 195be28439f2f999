"""One ACEBench agent episode's simulated world: an instance per involved class, built from
the derived initial state plus the record's ``initial_config``, and upstream's dispatch rule:
a call runs on **every** instance that has a tool of that name (so ``turn_on_wifi()`` flips
the flag of all phone apps).

A failed call comes back to the model as an error result. Upstream distinguishes failures
its API methods report (``ToolError`` here; the episode goes on normally) from calls that
raise (unknown tool, bad keyword arguments): in multi-turn episodes such a batch returns an
error string and does not count as an execution that "returned the instances", and an episode
with no clean batch has no end-state snapshot (README §6.5).
"""

from __future__ import annotations

import copy
import inspect
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from looptool.agents.backends.acebench.base_api import BaseApi
from looptool.agents.backends.acebench.food_platform import FoodPlatform
from looptool.agents.backends.acebench.message_api import MessageApi
from looptool.agents.backends.acebench.reminder_api import ReminderApi, ReminderApiZh
from looptool.agents.backends.acebench.travel import Travel
from looptool.agents.backends.base import ToolBackend, ToolError
from looptool.agents.backends.specs import backend_tools
from looptool.schema import ToolCall

CLASSES: dict[str, dict[str, type[ToolBackend]]] = {
    "en": {
        "BaseApi": BaseApi,
        "MessageApi": MessageApi,
        "ReminderApi": ReminderApi,
        "FoodPlatform": FoodPlatform,
        "Travel": Travel,
    },
    "zh": {
        "BaseApi": BaseApi,
        "MessageApi": MessageApi,
        "ReminderApi": ReminderApiZh,
        "FoodPlatform": FoodPlatform,
        "Travel": Travel,
    },
}

#: misspellings of class names found in the data (README §7) -> the real class name
CLASS_ALIASES: dict[str, str] = {
    "BaseAPI": "BaseApi",
    "Baspi": "BaseApi",
    "ReminderAPI": "ReminderApi",
    "Reminderpi": "ReminderApi",
}


class ScenarioError(ValueError):
    """The episode's scenario cannot be built (unknown class, missing initial state)."""


@dataclass
class CallOutcome:
    """One call's result: JSON-ready ``result`` (an ``{"error": ...}`` dict on failure)."""

    call: ToolCall
    result: Any
    ok: bool
    raised: bool = False


@dataclass
class BatchOutcome:
    """The calls of one agent message, executed in order."""

    outcomes: list[CallOutcome] = field(default_factory=list)

    @property
    def raised(self) -> bool:
        return any(outcome.raised for outcome in self.outcomes)

    def results(self) -> list[Any]:
        return [outcome.result for outcome in self.outcomes]

    def to_text(self) -> str:
        return json.dumps(self.results(), ensure_ascii=False, default=str)


@lru_cache(maxsize=4)
def _initial_state(path: str) -> dict[str, dict[str, Any]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {name: info["initial_attributes"] for name, info in data["classes"].items()}


def load_initial_state(path: Path) -> dict[str, dict[str, Any]]:
    """Class name -> initial attributes, from ``derived/scenario_initial_state_<lang>.json``."""
    if not path.is_file():
        raise ScenarioError(f"ACEBench initial-state file missing: {path}")
    return copy.deepcopy(_initial_state(str(path)))


class AceEnvironment:
    """The instances of one episode and the upstream dispatch over them."""

    def __init__(
        self,
        language: str,
        involved_classes: list[str],
        initial_config: dict[str, Any],
        initial_state: dict[str, dict[str, Any]],
    ) -> None:
        if language not in CLASSES:
            raise ScenarioError(f"unknown ACEBench language {language!r} (known: en, zh)")
        self.language = language
        self.instances: dict[str, ToolBackend] = {}
        base_config = initial_config.get("BaseApi", {}) if isinstance(initial_config.get("BaseApi"), dict) else {}
        for name in involved_classes:
            cls = CLASSES[language].get(name)
            if cls is None:
                raise ScenarioError(
                    f"unknown ACEBench class {name!r} (known: {', '.join(CLASSES[language])})"
                )
            instance = cls()
            fields = set(vars(instance)) - {key for key in vars(instance) if key.startswith("_")}
            state = {key: value for key, value in initial_state.get(name, {}).items() if key in fields}
            instance.load_scenario(state)
            own = initial_config.get(name, {}) if isinstance(initial_config.get(name), dict) else {}
            overrides = {**own, **base_config} if isinstance(instance, BaseApi) else {}
            instance.load_scenario({key: value for key, value in overrides.items() if key in fields})
            setter = getattr(instance, "set_language", None)
            if callable(setter):
                setter(language)
            self.instances[name] = instance

    def tool_names(self) -> set[str]:
        return {name for instance in self.instances.values() for name in backend_tools(type(instance))}

    def _run_one(self, instance: ToolBackend, call: ToolCall) -> CallOutcome:
        method = getattr(instance, call.name)
        try:
            inspect.signature(method).bind(**call.arguments)
        except TypeError as error:
            return CallOutcome(call, {"error": f"{call.name}: {error}"}, ok=False, raised=True)
        try:
            value = method(**call.arguments)
        except ToolError as error:
            return CallOutcome(call, {"error": str(error)}, ok=False)
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            message = f"{call.name} failed: {type(error).__name__}: {error}"
            return CallOutcome(call, {"error": message}, ok=False, raised=True)
        return CallOutcome(call, json.loads(json.dumps(value, ensure_ascii=False, default=str)), ok=True)

    def execute(self, call: ToolCall) -> CallOutcome:
        """Run ``call`` on every instance that has the tool; the last instance's result counts."""
        targets = [
            instance for instance in self.instances.values() if call.name in backend_tools(type(instance))
        ]
        if not targets:
            available = ", ".join(sorted(self.tool_names()))
            return CallOutcome(
                call, {"error": f"no API named {call.name!r} (available: {available})"}, ok=False, raised=True
            )
        outcome = CallOutcome(call, None, ok=False)
        for instance in targets:
            outcome = self._run_one(instance, call)
            if outcome.raised:
                break
        return outcome

    def execute_all(self, calls: list[ToolCall]) -> BatchOutcome:
        return BatchOutcome([self.execute(call) for call in calls])

    def snapshot(self) -> list[dict[str, dict[str, Any]]]:
        """``[{ClassName: {attribute: value}}]`` with upstream's snapshotted attributes."""
        return [{name: instance.snapshot()} for name, instance in self.instances.items()]
