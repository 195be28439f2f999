"""In-context demonstrations: earlier exchanges that show the call format.

The embedded SmolLM2-135M only writes tool calls when the context already holds one
(docs/training.md): zero-shot, and with the example in the system prompt, it never did. So a
sample can carry K demonstration exchanges before its own conversation, each a short user
turn + the correct assistant call (+ the tool's result), taken from another sample that:

* comes from a **different source item** (never the sample's own template or dialogue),
* is a single user turn whose label is tool calls (and has no demos of its own),
* calls only tools the sample offers, with the same specs (so, for curated samples, a
  template of the same tool set).

Tool results are the real ones for executable tool sets (the demo's label is re-run on a
fresh backend), the template's ``result`` for library tools, and absent otherwise; after
results the exchange ends with a short assistant answer quoting them (without it SmolLM2 read
the tool-result turns as the pattern to continue and answered the real request with a
``<tool_response>`` of its own). A sample
with fewer eligible demos than K gets as many as there are. The demos go after any system
message(s); ``metadata["demonstrations"]`` records their ids and length.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

from looptool.loop.seed.catalog import Catalog
from looptool.loop.seed.instantiate import check_curated_sample
from looptool.loop.seed.metadata import (
    DemonstrationInfo,
    curated_origin,
    demonstration_info,
    own_context,
)
from looptool.loop.seed.sources import source_item
from looptool.schema import Message, Role, Sample, ToolSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Demonstration:
    """One demo exchange and where it came from."""

    source_id: str
    source_item: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...]  # the specs of the tools its calls use


def _demo_messages(sample: Sample, catalog: Catalog | None) -> tuple[Message, ...] | None:
    own = own_context(sample)
    if (sample.label_kind != "calls" or len(own) != 1 or own[0].role != Role.USER
            or demonstration_info(sample) is not None):
        return None
    calls = [call.model_copy(update={"id": f"demo_{index + 1}"})
             for index, call in enumerate(sample.label_calls)]
    messages = [Message(role=Role.USER, content=own[0].content),
                Message(role=Role.ASSISTANT, tool_calls=calls)]
    if curated_origin(sample) is not None:
        check = check_curated_sample(sample, catalog)
        if not check.ok:
            log.warning("sample %s is not used as a demonstration: %s", sample.id, check.problems)
            return None
        results: list[str] = []
        for call, result in zip(calls, check.label_results, strict=True):
            if result.content:
                messages.append(Message(role=Role.TOOL, content=result.content, name=call.name,
                                        tool_call_id=call.id))
                results.append(result.content)
        if results:  # the exchange ends with the assistant's answer, so the next turn is a new request
            messages.append(Message(role=Role.ASSISTANT, content="Here is the result: " + "; ".join(results)))
    return tuple(messages)


def demonstration_pool(samples: Sequence[Sample], catalog: Catalog | None = None) -> list[Demonstration]:
    """Every sample of ``samples`` that can serve as a demonstration, in id order."""
    pool: list[Demonstration] = []
    for sample in sorted(samples, key=lambda item: item.id):
        messages = _demo_messages(sample, catalog)
        if messages is not None:
            used = dict.fromkeys(call.name for call in sample.label_calls)
            tools = tuple(spec for name in used if (spec := sample.tool(name)) is not None)
            pool.append(Demonstration(source_id=sample.id, source_item=source_item(sample),
                                      messages=messages, tools=tools))
    return pool


def _fits(demo: Demonstration, sample: Sample, item: str) -> bool:
    """Another source item, and every tool the demo calls is offered with the same spec."""
    if demo.source_item == item or demo.source_id == sample.id:
        return False
    return all(sample.tool(spec.name) == spec for spec in demo.tools)


def with_demonstrations(
    samples: Sequence[Sample],
    k: int,
    rng: random.Random,
    *,
    pool: Sequence[Sample] | None = None,
    catalog: Catalog | None = None,
) -> list[Sample]:
    """Copies of ``samples``, each with up to ``k`` demonstrations drawn (by ``rng``) from
    ``pool`` (default: ``samples`` themselves); see the module docstring for the rules.
    ``k == 0`` returns the samples unchanged; samples that already carry demos are kept."""
    if k < 0:
        raise ValueError(f"k must be 0 or more, got {k}")
    if k == 0:
        return list(samples)
    sources = list(pool) if pool is not None else list(samples)
    demos = demonstration_pool(sources, catalog)
    result: list[Sample] = []
    short = 0
    for sample in samples:
        if demonstration_info(sample) is not None:
            result.append(sample)
            continue
        item = source_item(sample)
        candidates = [demo for demo in demos if _fits(demo, sample, item)]
        chosen: list[Demonstration] = []
        while candidates and len(chosen) < k:
            pick = candidates[rng.randrange(len(candidates))]
            chosen.append(pick)
            # two demos of one sample come from different source items when possible
            others = [demo for demo in candidates if demo.source_item != pick.source_item]
            candidates = others or [demo for demo in candidates if demo is not pick]
        if len(chosen) < k:
            short += 1
        if not chosen:
            result.append(sample)
            continue
        messages = [message for demo in chosen for message in demo.messages]
        lead = next((index for index, message in enumerate(sample.context)
                     if message.role != Role.SYSTEM), len(sample.context))
        info = DemonstrationInfo(sources=[demo.source_id for demo in chosen], messages=len(messages))
        result.append(sample.model_copy(update={
            "context": [*sample.context[:lead], *messages, *sample.context[lead:]],
            "metadata": {**sample.metadata, DemonstrationInfo.METADATA_KEY: info.model_dump(mode="json")},
        }))
    if short:
        log.info("%d of %d samples got fewer than %d demonstrations (no other eligible sample)",
                 short, len(samples), k)
    return result


def count_short_of_demonstrations(samples: Sequence[Sample], k: int) -> int:
    """How many of ``samples`` carry fewer than ``k`` demonstrations."""
    return sum(1 for sample in samples
               if len((demonstration_info(sample) or DemonstrationInfo()).sources) < k)
