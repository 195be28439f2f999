"""The loop on episodes (``loop.episodes``): the episode side of every iteration's stages.

* **Split** (:func:`split_episodes`): a seeded held-out slice, whole lineage source items on
  one side only.
* **Probe** (:func:`play_episodes`): each episode of ``E_j`` played greedily on the served
  policy (:func:`looptool.training.episode_rollout.play_episode`), one
  :class:`~looptool.training.episode_rollout.EpisodeOutcome` per episode, journaled by the
  batch runner; the held-out success of a policy is the same play on the held-out episodes.
* **Judge** (:func:`judge_failed_episodes`): JGLV's panel on every failed episode with the
  episode prompt (the reference solution and the policy's attempt, every call with its result
  and the state each left). PRED_WRONG -> error seed; LABEL_WRONG (or BOTH_CORRECT: the
  expected end state rejects a correct one) -> relabel (:func:`relabel_episode`: the policy's
  successful calls become the reference, the end state is recomputed by replay and
  :func:`~looptool.loop.seed.episodes.check_episode` must pass); BOTH_WRONG, UNDECIDED,
  UNJUDGED -> dropped.
* **Expand** (:func:`expand_episode_seeds`): the generator role writes ``edde.k`` variants per
  error seed; a variant is accepted only when its end state, computed by replaying its calls
  (:func:`~looptool.loop.seed.episodes.with_replayed_end_state`), passes ``check_episode``.
* **Compose**: :func:`looptool.loop.compose.compose_next` on episodes.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import ValidationError

from looptool.agents.backends.episode_env import UserPartner
from looptool.agents.label_judge import AttemptStep, EpisodeAttempt, Verdict
from looptool.agents.role_call import RoleBinding
from looptool.batch import (
    BatchItem,
    BatchSummary,
    ItemOutcome,
    finished_in_order,
    read_journal,
    run_batch,
)
from looptool.episodes import Episode, ExpectedOutcome, load_episodes
from looptool.graphs.expansion.settings import EddeSettings
from looptool.graphs.judging.settings import JglvSettings
from looptool.loop.records import EpisodeExpansionRecord, EpisodeJudgeRecord
from looptool.loop.seed.split import normalize_text
from looptool.schema import Lineage, Message, OriginKind, Role, ToolCall, ToolSpec
from looptool.traces import TraceStore

log = logging.getLogger(__name__)

CURATED = "curated"
#: ``Episode.metadata`` key of a relabeled episode's old reference and the verdict.
RELABEL_KEY = "relabel"
EXPANDED_TRACE_KIND = "edde"


# ------------------------------------------------------------------------------- source and split


def load_episode_source(file: str) -> list[Episode]:
    """The episodes of ``loop.episodes.file`` (``curated``: the shipped curated set)."""
    if file == CURATED:
        from looptool.loop.seed.episodes import curated_episodes

        return curated_episodes()
    return load_episodes(file)


def source_item_of(episode: Episode) -> str:
    return episode.lineage.source_item or episode.id


def split_episodes(episodes: Sequence[Episode], heldout: int, seed: int) -> tuple[list[Episode], list[Episode]]:
    """(train, held-out): whole source items are drawn (seeded) until ``heldout`` episodes are
    held out; an item is never on both sides. At least one episode stays in training."""
    items: dict[str, list[Episode]] = {}
    for episode in episodes:
        items.setdefault(source_item_of(episode), []).append(episode)
    keys = sorted(items)
    random.Random(f"episodes|{seed}").shuffle(keys)
    held: set[str] = set()
    count = 0
    for key in keys:
        if count >= heldout:
            break
        if count + len(items[key]) >= len(episodes):
            continue  # keep some episode for training
        held.add(key)
        count += len(items[key])
    train = [e for e in episodes if source_item_of(e) not in held]
    return train, [e for e in episodes if source_item_of(e) in held]


# ------------------------------------------------------------------------------- attempts


def compared_state(expected: Mapping[str, Mapping[str, Any]], state: Mapping[str, Mapping[str, Any]]) -> dict[
        str, dict[str, object]]:
    """``state`` restricted to the backends and keys the expected end state compares."""
    return {backend: {key: state.get(backend, {}).get(key) for key in keys} for backend, keys in expected.items()}


def reference_attempt(episode: Episode) -> EpisodeAttempt:
    """The reference calls replayed on fresh backends, as the judge reads them."""
    from looptool.agents.backends.episode_env import environment_for, run_call

    environment = environment_for(episode)
    steps = []
    for call in episode.expected.calls:
        step = run_call(environment, call)
        steps.append(AttemptStep(name=call.name, arguments=dict(call.arguments), ok=step.ok, result=step.content))
        if not step.ok:
            break
    return EpisodeAttempt(steps=steps, end_state=compared_state(episode.expected.end_state, environment.final_state))


def policy_attempt(episode: Episode, outcome: Any) -> EpisodeAttempt:
    """The policy's rollout (an ``EpisodeOutcome``) as the judge reads it."""
    steps = [AttemptStep(name=s.name, arguments=dict(s.arguments), ok=s.ok, result=s.result) for s in outcome.steps]
    note = f"stopped: {outcome.stop_reason}"
    for exchange in outcome.user_exchanges:  # questions to the simulated user (loop.episodes.simulated_user)
        note += f"; asked the user {str(exchange.arguments.get('question', ''))[:200]!r} -> {exchange.result[:200]!r}"
    if outcome.turns and outcome.stop_reason == "answered":
        note += f"; final reply: {outcome.turns[-1][:300]}"
    return EpisodeAttempt(steps=steps, end_state=compared_state(episode.expected.end_state, outcome.final_state),
                          note=note)


def episode_tools(episode: Episode) -> list[ToolSpec]:
    from looptool.agents.backends.episode_env import environment_class

    return list(environment_class(episode.backends).tool_specs)


def initial_snapshot(episode: Episode) -> dict[str, dict[str, object]]:
    """The backends' state before the task (their snapshots after loading the initial state)."""
    from looptool.agents.backends.episode_env import environment_for

    return environment_for(episode).final_state


# ------------------------------------------------------------------------------- probe / held-out


@dataclass(frozen=True)
class PlaySettings:
    max_completion_tokens: int
    max_tool_calling_iterations: int
    preamble: str = ""
    partner: UserPartner | None = None  # the simulated user behind ask_user (loop.episodes.simulated_user)


async def play_episodes(
    episodes: Sequence[Episode], policy: Any, tokenizer: Any, settings: PlaySettings, *, journal: Path,
    concurrency: int, description: str, progress: bool = True,
) -> tuple[list[Any], BatchSummary]:
    """Every episode played greedily on ``policy``, journaled; the outcomes in episode order."""
    from looptool.training.episode_rollout import EpisodeOutcome, play_episode

    items = [BatchItem(episode.id, episode) for episode in episodes]

    async def work(item: BatchItem[Episode]) -> ItemOutcome[EpisodeOutcome]:
        outcome = await play_episode(item.payload, policy, tokenizer,
                                     max_completion_tokens=settings.max_completion_tokens,
                                     max_tool_calling_iterations=settings.max_tool_calling_iterations,
                                     preamble=settings.preamble, partner=settings.partner)
        return ItemOutcome.accepted(outcome)

    summary = await run_batch(items, work, journal=journal, result_model=EpisodeOutcome, concurrency=concurrency,
                              description=description, progress=progress)
    records = [r.result for r in finished_in_order(read_journal(journal, EpisodeOutcome), [i.id for i in items])
               if r.result is not None]
    return records, summary


# ------------------------------------------------------------------------------- judge


def relabel_episode(episode: Episode, outcome: Any, *, iteration: int, verdict: Verdict,
                    analysis: str) -> tuple[Episode | None, str]:
    """``episode`` with the policy's successful calls as its reference and the end state they
    leave (same compared keys) as expected; ``(None, why)`` when that fails ``check_episode``."""
    from looptool.loop.seed.episodes import (
        EpisodeSourceError,
        check_episode,
        with_replayed_end_state,
    )

    calls = [ToolCall(name=step.name, arguments=dict(step.arguments)) for step in outcome.steps if step.ok]
    if not calls:
        return None, "the policy made no successful call"
    old = {"calls": [call.model_dump(mode="json", exclude_none=True) for call in episode.expected.calls],
           "end_state": episode.expected.end_state, "verdict": verdict.value, "analysis": analysis,
           "iteration": iteration}
    data = episode.model_dump(mode="json")
    data.update(
        id=f"{episode.id}~lr{iteration}",
        expected={"end_state": episode.expected.end_state, "calls": [c.model_dump(mode="json") for c in calls]},
        lineage={**episode.lineage.model_dump(mode="json"), "origin": OriginKind.RELABELED.value,
                 "parent_id": episode.id, "iteration": iteration, "stage": "jglv",
                 "notes": [f"relabeled by JGLV at iteration {iteration}: {analysis}"[:500]]},
        metadata={**episode.metadata, RELABEL_KEY: old},
    )
    keys = {backend: list(values) for backend, values in episode.expected.end_state.items()}
    try:
        candidate = with_replayed_end_state(Episode.model_validate(data), keys)
    except (EpisodeSourceError, ValidationError, ValueError) as error:
        return None, f"replaying the policy's calls failed: {error}"
    problems = check_episode(candidate)
    if problems:
        return None, "; ".join(problems)
    return candidate, ""


async def judge_failed_episodes(
    failed: Sequence[tuple[Episode, Any]], *, iteration: int, settings: JglvSettings,
    judges: Mapping[str, BaseChatModel] | None, journal: Path, traces: TraceStore | None = None,
    concurrency: int = 4, progress: bool = True,
) -> tuple[list[EpisodeJudgeRecord], BatchSummary]:
    """Judge every failed (episode, outcome) (``judges=None``: the no-JGLV ablation, PRED_WRONG)."""
    from looptool.graphs.judging.episode_graph import judge_failed_episode

    items = [BatchItem(episode.id, (episode, outcome)) for episode, outcome in failed]

    async def work(item: BatchItem[tuple[Episode, Any]]) -> ItemOutcome[EpisodeJudgeRecord]:
        episode, outcome = item.payload
        if judges is None:
            verdict, decided_by, analysis, detail = Verdict.PRED_WRONG, "ablation", "", {}
        else:
            result = await judge_failed_episode(
                episode, episode_tools(episode), reference_attempt(episode), policy_attempt(episode, outcome),
                settings=settings, judges=judges, initial_state=initial_snapshot(episode), traces=traces,
                trace_id=f"jglv:{iteration}:episode:{episode.id}")
            verdict, decided_by, analysis = result.verdict, result.decided_by, result.analysis
            detail = result.model_dump(mode="json", exclude={"sample_id"})
        record = EpisodeJudgeRecord(episode_id=episode.id, verdict=verdict, decided_by=decided_by,
                                    analysis=analysis, action="dropped", detail=detail)
        if verdict == Verdict.PRED_WRONG:
            record.action, record.episode = "error_seed", episode
        elif verdict in (Verdict.LABEL_WRONG, Verdict.BOTH_CORRECT):
            relabeled, reason = relabel_episode(episode, outcome, iteration=iteration, verdict=verdict,
                                                analysis=analysis)
            if relabeled is None:
                record.action, record.reason = "relabel_rejected", reason
            else:
                record.action, record.episode, record.new_episode_id = "relabeled", relabeled, relabeled.id
        else:
            record.reason = {Verdict.BOTH_WRONG: "both the reference and the attempt are wrong",
                             Verdict.UNDECIDED: "the judge panel had no majority"}.get(verdict, "no valid judge vote")
        if verdict == Verdict.UNJUDGED:
            return ItemOutcome.rejected(record, "unjudged")
        return ItemOutcome.accepted(record)

    summary = await run_batch(items, work, journal=journal, result_model=EpisodeJudgeRecord,
                              concurrency=concurrency, description="judge episodes (JGLV)", progress=progress)
    records = [r.result for r in finished_in_order(read_journal(journal, EpisodeJudgeRecord), [i.id for i in items])
               if r.result is not None]
    return records, summary


# ------------------------------------------------------------------------------- expand


def rejection_kind(reason: str) -> str:
    """The counted kind of a rejection reason (its text up to the first colon)."""
    return reason.split(":", 1)[0].strip()


def variant_episode(seed: Episode, generated: Any, *, iteration: int, index: int) -> tuple[Episode | None, str]:
    """A generated task as an episode of ``seed``'s backends, its end state replayed on the
    seed's compared keys; ``(None, "<kind>: why")`` when it is not a valid, checked episode."""
    from looptool.loop.seed.episodes import (
        EpisodeSourceError,
        check_episode,
        with_replayed_end_state,
    )

    if not generated.instruction.strip():
        return None, "invalid: empty instruction"
    if not generated.calls:
        return None, "invalid: no reference calls"
    stray = sorted(set(generated.initial_state) - set(seed.backends))
    if stray:
        return None, f"invalid: initial state of backend(s) {stray} not in {seed.backends}"
    context = [m for m in seed.context if m.role == Role.SYSTEM] + [Message(role=Role.USER,
                                                                            content=generated.instruction.strip())]
    try:
        draft = Episode(
            id=f"{seed.id}~e{iteration}.{index}", backends=list(seed.backends), initial_state=generated.initial_state,
            context=context, now=seed.now,
            expected=ExpectedOutcome(end_state={b: {"_": None} for b in seed.expected.end_state},
                                     calls=[call.to_call() for call in generated.calls]),
            lineage=Lineage(origin=OriginKind.EXPANDED, parent_id=seed.id, iteration=iteration, stage="edde",
                            source_item=seed.lineage.source_item, dialogue_id=seed.lineage.dialogue_id,
                            notes=[f"EDDE variant of {seed.id} at iteration {iteration}"]),
            metadata={key: value for key, value in seed.metadata.items() if key != RELABEL_KEY},
        )
    except (ValidationError, ValueError) as error:
        return None, f"invalid: {error}"
    keys = {backend: list(values) for backend, values in seed.expected.end_state.items()}
    try:
        episode = with_replayed_end_state(draft, keys)
    except (EpisodeSourceError, ValidationError, ValueError, KeyError, TypeError) as error:
        return None, f"replay failed: {error}"
    problems = check_episode(episode)
    if problems:
        return None, f"check failed: {'; '.join(problems)}"
    return episode, ""


@dataclass(frozen=True)
class EpisodeSeed:
    """An error-seed episode with the policy's failed rollout and the judge's analysis."""

    episode: Episode
    outcome: Any | None
    analysis: str = ""


async def expand_episode_seeds(
    seeds: Sequence[EpisodeSeed], *, iteration: int, settings: EddeSettings, generator: BaseChatModel,
    journal: Path, known_instructions: set[str], traces: TraceStore | None = None, concurrency: int = 4,
    progress: bool = True,
) -> tuple[list[Episode], list[EpisodeExpansionRecord], BatchSummary]:
    """``settings.k`` variants per seed from the generator, each accepted only when it replays
    and passes ``check_episode``; a variant whose instruction is already known (training,
    held-out or an earlier variant) is rejected as a duplicate."""
    from looptool.agents.expander import EPISODE_EXPANDER_PROMPT, generate_episode_variants

    prompt = EPISODE_EXPANDER_PROMPT.with_override(settings.prompts.get("episode_expander"))
    items = [BatchItem(seed.episode.id, seed) for seed in seeds]

    async def work(item: BatchItem[EpisodeSeed]) -> ItemOutcome[EpisodeExpansionRecord]:
        seed = item.payload
        trace_id = f"edde:{iteration}:episode:{seed.episode.id}"
        if traces is not None:
            traces.start(trace_id, kind=EXPANDED_TRACE_KIND, metadata={"episode_id": seed.episode.id})
        binding = RoleBinding(model=generator, role=settings.role, trace_id=trace_id, traces=traces,
                              structured_method=settings.structured_output, parse_retries=settings.parse_retries,
                              sampling={"temperature": settings.temperature}, record_prompts=settings.trace_prompts)
        attempt = (policy_attempt(seed.episode, seed.outcome) if seed.outcome is not None
                   else EpisodeAttempt(note="no rollout recorded"))
        errors: list[str] = []
        batch = None
        for number in range(settings.generator_retries + 1):
            try:
                batch = await generate_episode_variants(
                    binding, seed.episode, episode_tools(seed.episode), reference_attempt(seed.episode), attempt,
                    k=settings.k, focus=settings.draw_focus(seed.episode.id, iteration, number),
                    analysis=seed.analysis, prompt=prompt)
                break
            except Exception as error:  # a failed or unusable reply is retried, then recorded
                errors.append(f"{type(error).__name__}: {error}")
        record = EpisodeExpansionRecord(seed_id=seed.episode.id, asked=settings.k,
                                        produced=len(batch.episodes) if batch else 0)
        if batch is None:
            record.error = "; ".join(errors)
            if traces is not None:
                traces.finish(trace_id, "failed", metadata={"error": record.error})
            return ItemOutcome.rejected(record, record.error)
        for index, generated in enumerate(batch.episodes[: settings.k], start=1):
            episode, reason = variant_episode(seed.episode, generated, iteration=iteration, index=index)
            if episode is not None:
                text = normalize_text(episode.context[-1].content)
                if text in known_instructions:
                    episode, reason = None, "duplicate: the instruction is already known"
                else:
                    known_instructions.add(text)
            if episode is None:
                record.rejected.append(reason)
            else:
                record.accepted_ids.append(episode.id)
                record.accepted.append(episode)
        if traces is not None:
            traces.finish(trace_id, f"accepted {len(record.accepted_ids)}/{record.asked}",
                          metadata={"rejected": record.rejected})
        return ItemOutcome.accepted(record)

    if journal.exists():  # a resumed stage: variants accepted before the kill are known
        known_instructions.update(normalize_text(e.context[-1].content)
                                  for r in read_journal(journal, EpisodeExpansionRecord).values()
                                  if r.result is not None for e in r.result.accepted)
    summary = await run_batch(items, work, journal=journal, result_model=EpisodeExpansionRecord,
                              concurrency=concurrency, description="expand episodes (EDDE)", progress=progress)
    records = [r.result for r in finished_in_order(read_journal(journal, EpisodeExpansionRecord),
                                                   [i.id for i in items]) if r.result is not None]
    return [episode for record in records for episode in record.accepted], records, summary


def rejection_counts(records: Sequence[EpisodeExpansionRecord]) -> dict[str, int]:
    return dict(Counter(rejection_kind(reason) for record in records for reason in record.rejected))
