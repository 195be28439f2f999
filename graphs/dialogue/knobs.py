"""Per-dialogue variety: which tools are offered and planned, turns, parallel calls, persona.

Sampling is deterministic per (run seed, dialogue index), so a resumed run simulates the same
dialogue set-up again. In an *irrelevance* dialogue the task is planned over tools that are
then **not** offered: the assistant sees only unrelated tools and should answer in text.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict

from looptool.graphs.dialogue.config import DialogueSynthSettings
from looptool.schema import ToolSpec


class DialogueKnobs(BaseModel):
    """The variety settings drawn for one dialogue."""

    model_config = ConfigDict(extra="forbid")

    turns: int
    parallel: bool
    irrelevant: bool
    withhold_detail: bool
    persona: str


class DialogueSetup(BaseModel):
    """Knobs plus the planned and offered tool lists of one dialogue."""

    model_config = ConfigDict(extra="forbid")

    knobs: DialogueKnobs
    planned_tools: list[ToolSpec]
    offered_tools: list[ToolSpec]


def dialogue_rng(seed: int, index: int) -> random.Random:
    return random.Random(f"looptool-dialogue:{seed}:{index}")


def sample_setup(
    settings: DialogueSynthSettings, library: list[ToolSpec], *, seed: int, index: int
) -> DialogueSetup:
    """Draw one dialogue's set-up from the tool library."""
    if not library:
        raise ValueError("the tool library is empty: nothing to simulate dialogues with")
    rng = dialogue_rng(seed, index)
    count = min(rng.randint(settings.tools_offered.min, settings.tools_offered.max), len(library))
    count = max(count, 1)
    planned = rng.sample(library, count)
    irrelevant = rng.random() < settings.irrelevance_share
    parallel = rng.random() < settings.parallel_share
    withhold = rng.random() < settings.withhold_share
    persona = rng.choice(settings.personas)
    turns = rng.randint(settings.turns.min, max(settings.turns.min, settings.turns.max))
    offered = planned
    if irrelevant:
        planned_names = {tool.name for tool in planned}
        others = [tool for tool in library if tool.name not in planned_names]
        if others:
            offered = rng.sample(others, min(count, len(others)))
        else:  # a library too small to hide the needed tools: a normal dialogue
            irrelevant = False
    return DialogueSetup(
        knobs=DialogueKnobs(
            turns=max(1, turns),
            parallel=parallel and not irrelevant,
            irrelevant=irrelevant,
            withhold_detail=withhold and not irrelevant,
            persona=persona,
        ),
        planned_tools=planned,
        offered_tools=offered,
    )
