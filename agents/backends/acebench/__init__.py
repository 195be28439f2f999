"""ACEBench's simulated APIs as LoopTool tool backends (phone: ``BaseApi``, ``MessageApi``,
``ReminderApi``, ``FoodPlatform``; and ``Travel``), plus :class:`AceEnvironment`, the
per-episode world that dispatches a call to every involved class as upstream does.

Behaviour follows the description in ``../shared/acebench/README.md`` §6.5; initial data
comes from ``derived/scenario_initial_state_{en,zh}.json`` and the record's ``initial_config``.
"""

from looptool.agents.backends.acebench.base_api import BaseApi
from looptool.agents.backends.acebench.environment import (
    CLASS_ALIASES,
    AceEnvironment,
    BatchOutcome,
    CallOutcome,
    ScenarioError,
    load_initial_state,
)
from looptool.agents.backends.acebench.food_platform import FoodPlatform
from looptool.agents.backends.acebench.message_api import MessageApi
from looptool.agents.backends.acebench.reminder_api import ReminderApi, ReminderApiZh
from looptool.agents.backends.acebench.travel import Travel

__all__ = [
    "CLASS_ALIASES",
    "AceEnvironment",
    "BaseApi",
    "BatchOutcome",
    "CallOutcome",
    "FoodPlatform",
    "MessageApi",
    "ReminderApi",
    "ReminderApiZh",
    "ScenarioError",
    "Travel",
    "load_initial_state",
]
