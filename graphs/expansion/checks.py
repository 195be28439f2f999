"""Local checks of the generator's candidates, before any validator sees them.

A candidate is rejected, with every reason found, when its user message is empty, its label
is missing or both calls and text, its label kind differs from the seed's (text / single
call / parallel calls), it calls a tool the seed does not offer, or its arguments break the
tool's JSON Schema. A candidate whose user message (case- and whitespace-normalised) is the
seed's or an earlier kept candidate's is rejected as a duplicate. Kept candidates become
:class:`~looptool.schema.Sample`s: the seed's tools, the seed's system messages and date/time
plus the new user message, lineage ``expanded`` from the seed (stage ``edde``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from looptool.agents.expander import ErrorSeed, GeneratedSample, label_kind
from looptool.graphs.validation.rules import schema_violations
from looptool.schema import Lineage, Message, OriginKind, Role, Sample

STAGE = "edde"

RejectStage = Literal["local", "validator"]


class RejectedSample(BaseModel):
    """A candidate that did not make it, with the stage that refused it and why."""

    model_config = ConfigDict(extra="forbid")

    stage: RejectStage
    reasons: list[str]
    candidate: GeneratedSample
    sample: Sample | None = None  # set when the candidate became a sample (validator stage)


class KeptCandidate(BaseModel):
    """A candidate that passed the local checks, and the sample it became."""

    model_config = ConfigDict(extra="forbid")

    candidate: GeneratedSample
    sample: Sample


class LocalCheck(BaseModel):
    """The candidates split into samples to validate and local rejections."""

    model_config = ConfigDict(extra="forbid")

    kept: list[KeptCandidate] = Field(default_factory=list)
    rejected: list[RejectedSample] = Field(default_factory=list)


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def _seed_request(seed: ErrorSeed) -> str:
    users = [message.content for message in seed.sample.context if message.role == Role.USER]
    return _normalise(users[-1]) if users else ""


def candidate_problems(seed: ErrorSeed, candidate: GeneratedSample) -> list[str]:
    """Every local reason to reject ``candidate`` (empty: it may become a sample)."""
    problems: list[str] = []
    if not candidate.user_message.strip():
        problems.append("empty_user_message: the user message is empty")
    text = candidate.label_text
    if candidate.label_calls and text is not None:
        problems.append("label: both label_calls and label_text are set")
    elif not candidate.label_calls and not (text or "").strip():
        problems.append("label: neither label_calls nor a non-empty label_text")
    else:
        kind = label_kind(candidate.label_calls)
        if kind != seed.kind:
            problems.append(f"label_kind: the seed's label is {seed.kind}, this one is {kind}")
    offered = {tool.name: tool for tool in seed.sample.tools}
    for generated in candidate.label_calls:
        spec = offered.get(generated.name)
        if spec is None:
            problems.append(f"unknown_tool: {generated.name!r} is not offered (offered: {', '.join(offered)})")
            continue
        problems.extend(f"{violation.rule}: {violation.message}"
                        for violation in schema_violations(generated.to_call(), spec, 0))
    return problems


def _sample_id(seed: ErrorSeed, candidate: GeneratedSample) -> str:
    body = json.dumps(candidate.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return f"{seed.sample.id}~ee{seed.iteration}-{hashlib.sha1(body.encode()).hexdigest()[:10]}"


def to_sample(seed: ErrorSeed, candidate: GeneratedSample, *, focus: str, prompt_version: str) -> Sample:
    """The candidate as a sample in the seed's setting (raises ValueError when invalid)."""
    parent = seed.sample
    system = [message.model_copy(deep=True) for message in parent.context if message.role == Role.SYSTEM]
    return Sample(
        id=_sample_id(seed, candidate),
        tools=parent.tools,
        context=[*system, Message(role=Role.USER, content=candidate.user_message.strip())],
        label_calls=[call.to_call() for call in candidate.label_calls],
        label_text=None if candidate.label_calls else (candidate.label_text or "").strip(),
        now=parent.now,
        lineage=Lineage(origin=OriginKind.EXPANDED, parent_id=parent.id, iteration=seed.iteration, stage=STAGE,
                        notes=[f"focus: {focus}", f"prompt: {prompt_version}"],
                        source_item=parent.lineage.source_item, dialogue_id=parent.lineage.dialogue_id),
    )


def check_candidates(
    seed: ErrorSeed, candidates: list[GeneratedSample], *, focus: str, prompt_version: str
) -> LocalCheck:
    """Split ``candidates`` into samples and local rejections (module doc)."""
    result = LocalCheck()
    seen = {_seed_request(seed): "the seed"}
    for position, candidate in enumerate(candidates):
        problems = candidate_problems(seed, candidate)
        key = _normalise(candidate.user_message)
        if not problems and key in seen:
            problems.append(f"duplicate: same user message as {seen[key]}")
        sample: Sample | None = None
        if not problems:
            try:
                sample = to_sample(seed, candidate, focus=focus, prompt_version=prompt_version)
            except ValueError as error:
                problems.append(f"invalid_sample: {error}")
        if sample is None:
            result.rejected.append(RejectedSample(stage="local", reasons=problems, candidate=candidate))
            continue
        seen[key] = f"candidate {position + 1}"
        result.kept.append(KeptCandidate(candidate=candidate, sample=sample))
    return result
