"""Accepted dialogues -> training :class:`~looptool.schema.Sample`s, and a sample's label
as the assistant step it stands for.

One sample per assistant turn: the context is every message before it, system messages
included (training folds them into the tool prompt); the label is the turn's tool calls or
its text. A dialogue's date/time (``metadata["now"]``, a string) becomes the sample's ``now``.
Lineage is ``seed`` (iteration 0, stage ``seed``) with the dialogue's id and a ``turn:<k>`` note.
"""

from __future__ import annotations

from typing import Final

from looptool.schema import Dialogue, Lineage, Message, OriginKind, Role, Sample, ToolCall

#: The key of ``Dialogue.metadata`` holding when the conversation takes place.
NOW_KEY: Final = "now"


def dialogue_now(dialogue: Dialogue) -> str | None:
    """The dialogue's date/time context, when its source states one."""
    now = dialogue.metadata.get(NOW_KEY)
    return now if isinstance(now, str) and now.strip() else None


def dialogue_samples(dialogue: Dialogue) -> list[Sample]:
    """The samples of an accepted dialogue, in turn order; ids ``<dialogue id>-t<k>``."""
    samples: list[Sample] = []
    now = dialogue_now(dialogue)
    turn = 0
    for position, message in enumerate(dialogue.messages):
        if message.role != Role.ASSISTANT:
            continue
        context = [item.model_copy(deep=True) for item in dialogue.messages[:position]]
        calls = [ToolCall(name=call.name, arguments=call.arguments) for call in message.tool_calls]
        samples.append(Sample(
            id=f"{dialogue.id}-t{turn}",
            tools=dialogue.tools,
            context=context,
            label_calls=calls,
            label_text=None if calls else message.content,
            now=now,
            lineage=Lineage(origin=OriginKind.SEED, iteration=0, stage="seed",
                            dialogue_id=dialogue.id, source_item=dialogue.id, notes=[f"turn:{turn}"]),
        ))
        turn += 1
    return samples


def label_message(sample: Sample) -> Message:
    """The sample's label as the assistant step it stands for."""
    return Message(role=Role.ASSISTANT, content=sample.label_text or "",
                   tool_calls=[call.model_copy(deep=True) for call in sample.label_calls])
