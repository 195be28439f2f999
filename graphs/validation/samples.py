"""Accepted dialogues -> training :class:`~looptool.schema.Sample`s.

One sample per assistant turn: the context is every message before it (no system prompt:
training renders the tool prompt from ``tools``), the label is the turn's tool calls or its
text. Lineage is ``seed`` (iteration 0, stage ``seed``), noting the dialogue it came from.
"""

from __future__ import annotations

from looptool.schema import Dialogue, Lineage, OriginKind, Role, Sample, ToolCall


def dialogue_samples(dialogue: Dialogue) -> list[Sample]:
    """The samples of an accepted dialogue, in turn order; ids ``<dialogue id>-t<k>``."""
    samples: list[Sample] = []
    turn = 0
    for position, message in enumerate(dialogue.messages):
        if message.role != Role.ASSISTANT:
            continue
        context = [item.model_copy(deep=True) for item in dialogue.messages[:position]
                   if item.role != Role.SYSTEM]
        calls = [ToolCall(name=call.name, arguments=call.arguments) for call in message.tool_calls]
        samples.append(Sample(
            id=f"{dialogue.id}-t{turn}",
            tools=dialogue.tools,
            context=context,
            label_calls=calls,
            label_text=None if calls else message.content,
            lineage=Lineage(origin=OriginKind.SEED, iteration=0, stage="seed",
                            notes=[f"dialogue:{dialogue.id}", f"turn:{turn}"]),
        ))
        turn += 1
    return samples
