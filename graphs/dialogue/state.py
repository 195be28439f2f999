"""States of the dialogue graph (TypedDicts; reducers live on the types).

``messages`` and ``parse_errors`` accumulate (``operator.add``); every other key is replaced
by the node that writes it. The input state names one dialogue; the output state is what the
validation graph and the runner need.
"""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from looptool.graphs.dialogue.knobs import DialogueKnobs
from looptool.schema import Message, Plan, ToolSpec


class DialogueInputState(TypedDict):
    """What the runner passes in: which dialogue to simulate."""

    dialogue_id: str
    index: int
    seed: int


class DialogueOutputState(TypedDict):
    """What comes out: the dialogue, its set-up, and why it stopped."""

    dialogue_id: str
    knobs: DialogueKnobs | None
    plan: Plan | None
    user_details: list[str]
    offered_tools: list[ToolSpec]
    planned_tools: list[ToolSpec]
    messages: Annotated[list[Message], operator.add]
    parse_errors: Annotated[list[str], operator.add]
    stop_reason: str | None
    stop_detail: str


class DialogueState(DialogueInputState, DialogueOutputState):
    """The full working state."""

    user_turns: int
    assistant_steps: int
    tool_failures: int  # consecutive tool steps whose calls all failed
