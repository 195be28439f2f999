"""Episodes in training: rewards by end state, greedy rollouts, the prompt TRL renders, settings.

The rollout tests use a scripted policy (canned replies by turn); the TRL tests are in
test_episode_trl.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from looptool.agents.backends.episode_env import environment_for, run_call, tool_schemas
from looptool.completions import CompletionResult
from looptool.episodes import Episode
from looptool.errors import UserError
from looptool.jsonl import write_jsonl
from looptool.prompts import render_prompt
from looptool.schema import Message, Role, ToolCall
from looptool.training.episode_rollout import episode_prompt_ids, play_episode
from looptool.training.episode_training import check_data_kind
from looptool.training.episodes import (
    build_episode_rows,
    episode_end_state,
    episode_messages,
    episode_shaped,
    prepare_tool_tokenizer,
)
from looptool.training.rewards import get_rewards
from looptool.training.settings import TrainSettings

MKDIR = ToolCall(name="mkdir", arguments={"path": "/backup"})
COPY = ToolCall(name="copy", arguments={"source": "/notes.txt", "destination": "/backup/notes.txt"})
WRITE = ToolCall(name="write_file", arguments={"path": "/backup/index.txt", "content": "notes"})


def backup_episode(episode_id: str = "backup") -> Episode:
    """mkdir, copy and write: the end state depends on all three, in any order that works."""
    return Episode(
        id=episode_id,
        backends=["filesystem"],
        initial_state={"filesystem": {"files": {"/notes.txt": "hello"}}},
        context=[Message(role=Role.SYSTEM, content="You manage files."),
                 Message(role=Role.USER, content="Back up notes.txt into /backup and list it in /backup/index.txt.")],
        now="2026-03-10 09:00",
        expected={"end_state": {"filesystem": {
            "files": {"/notes.txt": "hello", "/backup/notes.txt": "hello", "/backup/index.txt": "notes"},
            "directories": ["/", "/backup"]}},
            "calls": [MKDIR, COPY, WRITE]},
    )


def hermes(*calls: ToolCall) -> str:
    return "\n".join("<tool_call>\n" + json.dumps({"name": c.name, "arguments": c.arguments}) + "\n</tool_call>"
                     for c in calls)


def rollout(episode: Episode, calls: Sequence[ToolCall], *, final: Any = "Done.") -> tuple[Any, list[dict[str, Any]]]:
    """Execute ``calls`` one per turn as TRL would, returning the environment and the
    completion messages TRL hands the reward."""
    environment = environment_for(episode)
    messages: list[dict[str, Any]] = []
    for call in calls:
        messages.append({"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": call.name, "arguments": call.arguments}}]})
        result = getattr(environment, call.name)(**call.arguments)
        messages.append({"role": "tool", "name": call.name, "content": result})
    messages.append({"role": "assistant", "content": final})
    return environment, messages


def test_expected_calls_earn_one_and_any_working_order_earns_the_end_state() -> None:
    episode = backup_episode()
    right, right_messages = rollout(episode, [MKDIR, COPY, WRITE])
    other, other_messages = rollout(episode, [MKDIR, WRITE, COPY])
    assert episode_end_state([right_messages, other_messages], environments=[right, other]) == [1.0, 1.0]
    shaped = episode_shaped([right_messages, other_messages], environments=[right, other])
    assert shaped[0] == 1.0
    assert 0.5 < shaped[1] < 1.0  # right end state, 2 of 3 calls in the reference order


def test_a_wrong_end_state_and_a_malformed_call_score_zero() -> None:
    episode = backup_episode()
    partial, partial_messages = rollout(episode, [MKDIR, COPY])
    assert episode_end_state([partial_messages], environments=[partial]) == [0.0]
    assert 0.0 < episode_shaped([partial_messages], environments=[partial])[0] < 0.5
    # all three calls ran, then a turn TRL could not parse (its text still holds the block)
    done, messages = rollout(episode, [MKDIR, COPY, WRITE], final='<tool_call>\n{"name": "ls", "arguments": {\n</tool_call>')
    assert episode_end_state([messages], environments=[done]) == [0.0]
    assert episode_shaped([messages], environments=[done]) == [0.0]


def test_backend_errors_come_back_as_tool_text_and_are_recorded() -> None:
    environment = environment_for(backup_episode())
    text = environment.copy(source="/missing.txt", destination="/x.txt")
    assert "error" in json.loads(text)
    step = run_call(environment, ToolCall(name="mkdirr", arguments={"path": "/a"}))
    assert not step.ok and "unknown tool 'mkdirr'" in step.content
    assert [s.ok for s in environment.steps] == [False, False]


def test_episode_rewards_refuse_a_single_step_run() -> None:
    with pytest.raises(UserError, match="sample_kind: episode"):
        episode_end_state(["text"])


class ScriptedPolicy:
    """Replies by turn; records every prompt it was given."""

    def __init__(self, tokenizer: Any, replies: Sequence[str], *, loop_forever: str | None = None) -> None:
        self.tokenizer = tokenizer
        self.replies = list(replies)
        self.loop_forever = loop_forever
        self.prompts: list[str] = []

    async def complete(self, prompt: str | list[int], *, max_tokens: int = 64, temperature: float = 0.0,
                       **extra: Any) -> CompletionResult:
        assert isinstance(prompt, list)
        self.prompts.append(self.tokenizer.decode(prompt))
        turn = len(self.prompts) - 1
        text = self.loop_forever if self.loop_forever is not None else self.replies[turn]
        tokens = len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return CompletionResult(text=text, finish_reason="stop", prompt_tokens=len(prompt), completion_tokens=tokens)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    from looptool.training.model import load_tokenizer

    return prepare_tool_tokenizer(load_tokenizer(tiny_model_dir))


def play(episode: Episode, policy: ScriptedPolicy, tokenizer: Any, *, iterations: int = 4, tokens: int = 4096) -> Any:
    return asyncio.run(play_episode(episode, policy, tokenizer, max_completion_tokens=tokens,
                                    max_tool_calling_iterations=iterations))


def test_a_greedy_rollout_runs_calls_and_shows_results_to_the_model(tokenizer: Any) -> None:
    policy = ScriptedPolicy(tokenizer, [hermes(MKDIR), hermes(COPY, WRITE), "Backed up."])
    outcome = play(backup_episode(), policy, tokenizer)
    assert outcome.success and outcome.end_state_reward == 1.0 and outcome.stop_reason == "answered"
    assert [step.name for step in outcome.steps] == ["mkdir", "copy", "write_file"]
    assert outcome.first_divergence is None
    assert len(policy.prompts) == 3
    assert "<tool_response>" not in policy.prompts[0]
    assert policy.prompts[2].count("<tool_response>") == 3  # both results of turn 2 reached the model
    assert policy.prompts[1].startswith(policy.prompts[0])


def test_a_failing_call_reaches_the_model_and_divergence_is_reported(tokenizer: Any) -> None:
    wrong = ToolCall(name="copy", arguments={"source": "/nope.txt", "destination": "/backup/notes.txt"})
    policy = ScriptedPolicy(tokenizer, [hermes(MKDIR), hermes(wrong), "I could not find it."])
    outcome = play(backup_episode(), policy, tokenizer)
    assert not outcome.success and outcome.stop_reason == "answered"
    assert outcome.first_divergence == 1
    assert '{"error": "no such directory: /nope.txt"}' in policy.prompts[2]
    assert outcome.problems


def test_a_malformed_call_ends_the_episode_with_zero(tokenizer: Any) -> None:
    policy = ScriptedPolicy(tokenizer, [hermes(MKDIR), '<tool_call>\n{"name": "copy", "arguments": \n</tool_call>'])
    outcome = play(backup_episode(), policy, tokenizer)
    assert outcome.stop_reason == "malformed" and outcome.end_state_reward == 0.0 and outcome.shaped_reward == 0.0
    assert len(policy.prompts) == 2


def test_a_model_looping_on_calls_stops_at_the_iteration_bound(tokenizer: Any) -> None:
    policy = ScriptedPolicy(tokenizer, [], loop_forever=hermes(ToolCall(name="ls", arguments={"path": "/"})))
    outcome = play(backup_episode(), policy, tokenizer, iterations=3)
    assert outcome.stop_reason == "turn_limit" and not outcome.success
    assert len(policy.prompts) == 4 and len(outcome.steps) == 3  # 3 tool rounds; the 4th turn's call is not run
    budget = play(backup_episode(), ScriptedPolicy(tokenizer, [], loop_forever=hermes(MKDIR)), tokenizer,
                  iterations=1000, tokens=300)
    assert budget.stop_reason == "token_budget" and budget.completion_tokens >= 300 - 200


def token_ids(encoded: Any) -> list[int]:
    return list(encoded["input_ids"]) if hasattr(encoded, "keys") else list(encoded)


def test_the_episode_prompt_is_the_single_step_prompt(tokenizer: Any) -> None:
    """TRL renders the episode's messages with the tools as dicts; the single-step renderer
    puts the same tools in the system prompt itself: same tokens."""
    episode = backup_episode()
    environment = environment_for(episode)
    specs = list(type(environment).tool_specs)
    single = render_prompt(specs, list(episode.context), preamble="Be brief.", now=episode.now).messages
    single_ids = tokenizer.apply_chat_template(single, tokenize=True, add_generation_prompt=True)
    episode_ids = tokenizer.apply_chat_template(episode_messages(episode, "Be brief."), tools=tool_schemas(type(environment)),
                                                tokenize=True, add_generation_prompt=True)
    assert token_ids(episode_ids) == token_ids(single_ids)
    assert episode_prompt_ids(tokenizer, episode, "Be brief.") == token_ids(single_ids)


def test_rows_drop_episodes_over_the_prompt_limit(tokenizer: Any) -> None:
    episodes = [backup_episode("a"), backup_episode("b")]
    rows = build_episode_rows(episodes, tokenizer, max_prompt_tokens=4096)
    assert [row.episode_id for row in rows.rows] == ["a", "b"] and rows.over_limit == 0
    assert set(rows.dicts()[0]) == {"prompt", "environment", "episode"}
    assert Episode.model_validate_json(rows.dicts()[0]["episode"]) == episodes[0]
    tight = build_episode_rows(episodes, tokenizer, max_prompt_tokens=rows.max_prompt_tokens_seen - 1)
    assert tight.rows == [] and tight.over_limit == 2


def test_settings_pick_episode_rewards_and_refuse_the_wrong_kind() -> None:
    assert TrainSettings(sample_kind="episode").rewards == ["episode_end_state"]
    assert TrainSettings().rewards == ["tool_match"]
    with pytest.raises(ValidationError, match="episode rewards"):
        TrainSettings(sample_kind="episode", rewards=["tool_match"])
    with pytest.raises(ValidationError, match="sample_kind"):
        TrainSettings(rewards=["episode_shaped"])
    assert [f.__name__ for f in get_rewards(["episode_end_state", "episode_shaped"])] == ["episode_end_state",
                                                                                        "episode_shaped"]


def test_a_data_file_of_the_other_kind_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "episodes.jsonl"
    write_jsonl(path, [backup_episode()])
    with pytest.raises(UserError, match="sample_kind: episode"):
        check_data_kind(path, TrainSettings())
    check_data_kind(path, TrainSettings(sample_kind="episode"))
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"id": "s"}\n', encoding="utf-8")
    with pytest.raises(UserError, match="holds no episodes"):
        check_data_kind(samples, TrainSettings(sample_kind="episode"))


def test_episode_validation_names_the_problem() -> None:
    data = backup_episode().model_dump(mode="json")
    with pytest.raises(ValidationError, match="not in backends"):
        Episode.model_validate({**data, "initial_state": {"calendar": {}}})
    with pytest.raises(ValidationError, match="user's instruction"):
        Episode.model_validate({**data, "context": [{"role": "system", "content": "x"}]})
    with pytest.raises(ValidationError, match="end_state"):
        Episode.model_validate({**data, "expected": {"end_state": {}}})


def test_episodes_on_a_benchmark_backend_are_kept_out_of_training(tmp_path: Path) -> None:
    from looptool.training.episode_training import load_training_episodes

    data = backup_episode().model_dump(mode="json")
    ace = Episode.model_validate({**data, "id": "ace", "backends": ["acebench_message"], "initial_state": {},
                                  "expected": {"end_state": {"acebench_message": {"inbox": []}}}})
    path = tmp_path / "episodes.jsonl"
    write_jsonl(path, [backup_episode(), ace])
    with pytest.raises(UserError, match=r"contamination guard\): ace \(acebench_message\)"):
        load_training_episodes(path)
    write_jsonl(path, [backup_episode()])
    assert [episode.id for episode in load_training_episodes(path)] == ["backup"]
