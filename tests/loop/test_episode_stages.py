"""The episode stages without training: the episode judge panel (blinded A/B orders mapped back,
traces), relabels and EDDE variants checked by replay, rejection kinds."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from looptool.agents.expander import GeneratedCall, GeneratedEpisode
from looptool.agents.label_judge import Verdict
from looptool.graphs.judging.episode_graph import judge_failed_episode
from looptool.graphs.judging.settings import JglvSettings
from looptool.loop.episode_loop import (
    episode_tools,
    policy_attempt,
    reference_attempt,
    rejection_kind,
    relabel_episode,
    variant_episode,
)
from looptool.loop.seed.episodes import check_episode
from looptool.schema import OriginKind
from looptool.traces import TraceStore
from looptool.training.episode_rollout import EpisodeOutcome, RolloutStep
from tests.fake_models import ModelCall, ScriptedChatModel
from tests.loop.test_episode_loop import make_episode


def outcome(episode_id: str, *paths: str, ok: bool = True) -> EpisodeOutcome:
    steps = [RolloutStep(name="mkdir", arguments={"path": path}, ok=ok, result="created" if ok else "error")
             for path in paths]
    return EpisodeOutcome(episode_id=episode_id, success=False, end_state_reward=0.0, shaped_reward=0.0,
                          stop_reason="answered", turns=["...", "Done."], steps=steps,
                          final_state={"filesystem": {"files": {"/readme.txt": "hi"},
                                                      "directories": ["/", *paths]}})


def prefers_policy(call: ModelCall) -> str:
    """Says the attempt that made /ep-label-wrong is the correct one, whichever letter it has."""
    attempt_a = call.text.split("Attempt A:")[1].split("Attempt B:")[0]
    return json.dumps({"analysis": "the reference has a typo", "correct": "A" if "/ep-label-wrong" in attempt_a else "B"})


@pytest.mark.parametrize("orders", ["random", "both"])
def test_the_episode_judge_sees_both_attempts_blinded_and_is_traced(tmp_path: Path, orders: str) -> None:
    episode = make_episode("ep-label-wrong")  # reference: mkdir /lable-wrong
    rollout = outcome(episode.id, "/ep-label-wrong")
    model = ScriptedChatModel(replies=[prefers_policy], repeat_last=True)
    with TraceStore(tmp_path / "traces.sqlite") as traces:
        verdict = asyncio.run(judge_failed_episode(
            episode, episode_tools(episode), reference_attempt(episode), policy_attempt(episode, rollout),
            settings=JglvSettings(orders=orders), judges={"judge": model}, traces=traces, trace_id="jglv:1:episode:x"))
        kinds = {info.trace_id: info.kind for info in traces.traces()}
    assert verdict.verdict == Verdict.LABEL_WRONG and verdict.decided_by == "panel"
    assert len(model.calls) == (2 if orders == "both" else 1)
    prompt = model.calls[0].text
    assert "Create the directory /ep-label-wrong" in prompt and '"/lable-wrong"' in prompt
    assert "-> ok: created" in prompt and "State after:" in prompt and "reference" not in prompt.split("Attempt A:")[1]
    assert kinds == {"jglv:1:episode:x": "jglv"}


def test_a_relabel_replays_the_policy_calls_and_passes_the_check() -> None:
    episode = make_episode("ep-label-wrong")
    relabeled, reason = relabel_episode(episode, outcome(episode.id, "/ep-label-wrong"), iteration=2,
                                        verdict=Verdict.LABEL_WRONG, analysis="typo")
    assert relabeled is not None and reason == "" and check_episode(relabeled) == []
    assert relabeled.id == f"{episode.id}~lr2" and relabeled.lineage.origin == OriginKind.RELABELED
    assert set(relabeled.expected.end_state["filesystem"]) == set(episode.expected.end_state["filesystem"])
    # nothing that ran successfully: no relabel
    none, why = relabel_episode(episode, outcome(episode.id, "/x", ok=False), iteration=2,
                                verdict=Verdict.LABEL_WRONG, analysis="")
    assert none is None and "no successful call" in why


def generated(instruction: str, *calls: tuple[str, dict[str, Any]], state: Any = None) -> GeneratedEpisode:
    return GeneratedEpisode(instruction=instruction, initial_state=state or {"filesystem": {"files": {}}},
                            calls=[GeneratedCall(name=name, arguments=arguments) for name, arguments in calls])


def test_variants_are_accepted_only_when_they_replay_and_pass_the_check() -> None:
    seed = make_episode("ep-pred-wrong")
    good, reason = variant_episode(seed, generated("Create the directory /new", ("mkdir", {"path": "/new"})),
                                   iteration=1, index=1)
    assert good is not None and reason == "" and check_episode(good) == []
    assert good.lineage.origin == OriginKind.EXPANDED and good.lineage.parent_id == seed.id
    assert good.expected.end_state["filesystem"]["directories"] == ["/", "/new"]
    cases = {
        "replay failed": generated("Go to /missing", ("cd", {"path": "/missing"})),
        "check failed": generated("List", ("ls", {"path": "/"})),
        "invalid": generated("Unknown backend", ("mkdir", {"path": "/a"}), state={"calendar": {}}),
    }
    for kind, variant in cases.items():
        episode, reason = variant_episode(seed, variant, iteration=1, index=2)
        assert episode is None and rejection_kind(reason) == kind, reason
    unknown, reason = variant_episode(seed, generated("Fly", ("fly", {})), iteration=1, index=3)
    assert unknown is None and rejection_kind(reason) == "replay failed" and "fly" in reason


def test_the_judge_reads_the_questions_put_to_the_simulated_user() -> None:
    episode = make_episode("ep-ask")
    asked = outcome(episode.id, "/ep-ask").model_copy(update={"user_exchanges": [
        RolloutStep(name="ask_user", arguments={"question": "Which folder?"}, ok=True, result="Use /ep-ask.")]})
    note = policy_attempt(episode, asked).note
    assert "asked the user 'Which folder?' -> 'Use /ep-ask.'" in note
    assert [step.name for step in policy_attempt(episode, asked).steps] == ["mkdir"]  # not a backend call
