"""Curated templates -> Samples, every label checked by execution (or schema) on the way.

:func:`instantiate` renders one template with one set of slot values. Calls run in a fresh
:class:`~looptool.loop.seed.toolsets.ToolSetSession`: the context's calls first (their real
results become the tool messages), then the label's; any tool error rejects the instance.
Each sample records its template and slot values in ``metadata["curated"]``
(:class:`CuratedOrigin`) and its template id as ``lineage.source_item``.

:func:`expand_curated` instantiates every selected template ``instances`` times with a
per-template seeded RNG (adding a template does not change the others' samples).
:func:`check_curated_sample` re-checks a finished sample from scratch.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from looptool.agents.backends import ToolResult
from looptool.loop.seed.catalog import BoundTemplate, Catalog, TemplateError, load_catalog
from looptool.loop.seed.metadata import CuratedOrigin, curated_origin, own_context
from looptool.loop.seed.render import SlotRenderError, render_text, render_value
from looptool.loop.seed.slots import SlotError, draw_slots, satisfies_distinct, values_key
from looptool.loop.seed.templates import CATEGORIES, CallTemplate
from looptool.loop.seed.toolsets import ToolSetError, ToolSetSession
from looptool.schema import Lineage, Message, OriginKind, Role, Sample, ToolCall

log = logging.getLogger(__name__)

#: Draws tried per wanted instance before a template is declared out of values.
ATTEMPTS_PER_INSTANCE = 40


class LabelCheckError(ValueError):
    """A rendered call failed when run (a tool error) or broke its tool's schema."""


def curated_sample_id(template_id: str, values: Mapping[str, Any]) -> str:
    """``<template id>-<6 hex digits of the slot values>``: same values, same id."""
    digest = hashlib.sha256(values_key(values).encode()).hexdigest()[:6]
    return f"{template_id}-{digest}"


@dataclass(frozen=True)
class RenderedCall:
    """A call with its slots filled, and the template's result for non-executable tools."""

    call: ToolCall
    given_result: Any = None


def _render_calls(calls: list[CallTemplate], values: Mapping[str, Any]) -> list[RenderedCall]:
    return [
        RenderedCall(
            call=ToolCall(name=call.name, arguments=render_value(call.arguments, values)),
            given_result=render_value(call.result, values) if call.result is not None else None,
        )
        for call in calls
    ]


def _run_checked(session: ToolSetSession, call: ToolCall, given: Any, where: str) -> ToolResult:
    result = session.run(call, given)
    if not result.ok:
        raise LabelCheckError(f"{where}: call of {call.name!r} failed: {result.error}")
    return result


def instantiate(
    bound: BoundTemplate,
    values: Mapping[str, Any],
    *,
    sample_id: str | None = None,
    lineage: Lineage | None = None,
) -> Sample:
    """One sample of ``bound`` with ``values``; raises :class:`LabelCheckError` when a call
    fails and :class:`SlotRenderError` when a placeholder has no value."""
    template, tool_set = bound.template, bound.tool_set
    scenario = render_value(template.scenario, values) if template.scenario else None
    try:
        session = tool_set.session(scenario)
    except ToolSetError as error:
        raise LabelCheckError(str(error)) from None
    context: list[Message] = []
    call_number = 0
    for index, turn in enumerate(template.context):
        context.append(Message(role=Role.USER, content=render_text(turn.user, values)))
        rendered = _render_calls(turn.calls, values)
        if rendered:
            calls = []
            for item in rendered:
                call_number += 1
                calls.append(item.call.model_copy(update={"id": f"call_{call_number}"}))
            context.append(Message(role=Role.ASSISTANT, tool_calls=calls))
            for call, item in zip(calls, rendered, strict=True):
                result = _run_checked(session, call, item.given_result, f"context turn {index}")
                context.append(Message(role=Role.TOOL, content=result.content, name=call.name,
                                       tool_call_id=call.id))
        if turn.reply:
            context.append(Message(role=Role.ASSISTANT, content=render_text(turn.reply, values)))
    context.append(Message(role=Role.USER, content=render_text(template.user, values)))
    label = _render_calls(template.calls, values)
    for item in label:
        _run_checked(session, item.call, item.given_result, "label")
    label_calls = [item.call for item in label]
    origin = CuratedOrigin(template_id=template.id, tool_set=tool_set.name,
                           category=template.category, slots=dict(values), scenario=scenario)
    return Sample(
        id=sample_id or curated_sample_id(template.id, values),
        tools=[tool_set.spec(name) for name in template.tools],
        context=context,
        label_calls=label_calls,
        label_text=render_text(template.reply, values) if template.reply is not None else None,
        lineage=lineage or Lineage(origin=OriginKind.SEED, iteration=0, stage="seed",
                                   source_item=template.id, notes=[f"curated:{template.id}"]),
        metadata={CuratedOrigin.METADATA_KEY: origin.model_dump(mode="json")},
    )


@dataclass(frozen=True)
class SampleIdentity:
    """The id and lineage a new instance gets."""

    sample_id: str
    lineage: Lineage


#: Gives the identity of the instance made from some slot values.
IdentityFor = Callable[[Mapping[str, Any]], SampleIdentity]


@dataclass
class TemplateDraws:
    """The samples drawn from one template and why some draws were rejected."""

    samples: list[Sample] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def draw_instances(
    bound: BoundTemplate,
    count: int,
    rng: random.Random,
    *,
    avoid: Collection[str] = (),
    identity_for: IdentityFor | None = None,
) -> TemplateDraws:
    """Up to ``count`` new, checked instances whose slot values (:func:`values_key`) are not
    in ``avoid``; fewer when the slots run out of new values. ``identity_for(values)`` gives
    the id and lineage of each (default: a curated seed sample)."""
    draws = TemplateDraws()
    seen = set(avoid)
    attempts = 0
    while len(draws.samples) < count and attempts < count * ATTEMPTS_PER_INSTANCE:
        attempts += 1
        try:
            values = draw_slots(bound.template, bound.tool_set, rng)
        except SlotError as error:
            draws.rejected.append(str(error))
            continue
        key = values_key(values)
        if key in seen or not satisfies_distinct(bound.template, values):
            continue
        seen.add(key)
        try:
            if identity_for is None:
                sample = instantiate(bound, values)
            else:
                identity = identity_for(values)
                sample = instantiate(bound, values, sample_id=identity.sample_id,
                                     lineage=identity.lineage)
        except (LabelCheckError, SlotRenderError) as error:
            draws.rejected.append(str(error))
            continue
        draws.samples.append(sample)
    return draws


@dataclass
class CuratedExpansion:
    """Curated samples plus the templates that gave fewer than asked (with reasons)."""

    samples: list[Sample]
    shortfalls: list[str]


def expand_curated(
    catalog: Catalog | None = None,
    *,
    seed: int = 0,
    categories: Collection[str] | None = None,
    tool_sets: Collection[str] | None = None,
    instances: int | None = None,
) -> CuratedExpansion:
    """Instantiate the selected templates (all by default), each ``instances`` times (default:
    as its file says). A template that yields no sample at all is an error naming it."""
    catalog = catalog or load_catalog()
    unknown_categories = sorted(set(categories or ()) - set(CATEGORIES))
    if unknown_categories:
        raise TemplateError(f"unknown curated categories {unknown_categories}; known: {list(CATEGORIES)}")
    unknown_sets = sorted(set(tool_sets or ()) - set(catalog.tool_sets))
    if unknown_sets:
        raise TemplateError(f"unknown curated tool sets {unknown_sets}; known: {sorted(catalog.tool_sets)}")
    samples: list[Sample] = []
    shortfalls: list[str] = []
    for template_id, bound in catalog.templates.items():
        if categories is not None and bound.template.category not in categories:
            continue
        if tool_sets is not None and bound.tool_set.name not in tool_sets:
            continue
        wanted = instances or bound.instances
        draws = draw_instances(bound, wanted, random.Random(f"{seed}:{template_id}"))
        if not draws.samples:
            reason = draws.rejected[0] if draws.rejected else "no slot values"
            raise TemplateError(f"{bound.file}: template {template_id!r} gave no valid sample: {reason}")
        if len(draws.samples) < wanted:
            reason = f" (first rejection: {draws.rejected[0]})" if draws.rejected else " (slots ran out of values)"
            shortfalls.append(f"{template_id}: {len(draws.samples)} of {wanted}{reason}")
            log.warning("curated template %s: %d of %d instances%s", template_id,
                        len(draws.samples), wanted, reason)
        samples.extend(draws.samples)
    return CuratedExpansion(samples=samples, shortfalls=shortfalls)


class LabelCheck(BaseModel):
    """The outcome of re-running a curated sample's calls on a fresh tool set."""

    model_config = ConfigDict(extra="forbid")

    sample_id: str
    problems: list[str] = Field(default_factory=list)
    label_results: list[ToolResult] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_curated_sample(sample: Sample, catalog: Catalog | None = None) -> LabelCheck:
    """Replay the sample's own context calls, then its label calls, on a fresh tool set with
    the recorded scenario (demonstrations taken from other samples are not replayed)."""
    check = LabelCheck(sample_id=sample.id)
    origin = curated_origin(sample)
    if origin is None:
        check.problems.append(f"sample {sample.id!r} has no curated record (metadata['curated'])")
        return check
    catalog = catalog or load_catalog()
    try:
        bound = catalog.template(origin.template_id)
        session = catalog.tool_set(origin.tool_set).session(origin.scenario)
    except (TemplateError, ToolSetError) as error:
        check.problems.append(str(error))
        return check
    given = [item.given_result for item in _render_calls(bound.template.calls, origin.slots)]
    for message in own_context(sample):
        for call in message.tool_calls:
            result = session.run(call)
            if not result.ok:
                check.problems.append(f"context call of {call.name!r} failed: {result.error}")
    for index, call in enumerate(sample.label_calls):
        result = session.run(call, given[index] if index < len(given) else None)
        if not result.ok:
            check.problems.append(f"label call of {call.name!r} failed: {result.error}")
        check.label_results.append(result)
    return check
