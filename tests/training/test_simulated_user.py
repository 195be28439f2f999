"""The simulated user inside episode rollouts (``train.simulated_user``): the ``ask_user`` tool,
its partner (the dialogue simulator's user role), the rollout, the settings and TRL's tool loop.

The episode leaves out the backup folder's name; only the simulated user knows it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from looptool.agents.backends.episode_env import (
    ASK_USER,
    MAX_USER_QUESTIONS,
    EpisodeStep,
    environment_class,
    environment_for,
    tool_schemas,
)
from looptool.agents.episode_user import SimulatedUserPartner, user_view
from looptool.episodes import Episode, UserBrief
from looptool.errors import UserError
from looptool.jsonl import write_jsonl
from looptool.schema import Message, Role, ToolCall
from looptool.training.episode_rollout import play_episode
from looptool.training.settings import TrainSettings
from looptool.training.trainer import TrainJob, run_training
from tests.fake_models import ScriptedChatModel
from tests.training.test_episodes import ScriptedPolicy, hermes, tokenizer  # noqa: F401 - fixture

MKDIR = ToolCall(name="mkdir", arguments={"path": "/archive"})
COPY = ToolCall(name="copy", arguments={"source": "/notes.txt", "destination": "/archive/notes.txt"})
QUESTION = ToolCall(name=ASK_USER, arguments={"question": "Which folder should the backup go to?"})


def underspecified_episode(episode_id: str = "ask", *, brief: bool = True) -> Episode:
    return Episode(
        id=episode_id,
        backends=["filesystem"],
        initial_state={"filesystem": {"files": {"/notes.txt": "hello"}}},
        context=[Message(role=Role.USER, content="Back up notes.txt into a new folder.")],
        expected={"end_state": {"filesystem": {"files": {"/notes.txt": "hello", "/archive/notes.txt": "hello"}}},
                  "calls": [MKDIR, COPY]},
        user=UserBrief(task="back up notes.txt", details=["the folder is /archive"]) if brief else None,
    )


class ScriptedPartner:
    """Answers from a list; records what it was shown."""

    def __init__(self, answers: Sequence[str | BaseException]) -> None:
        self.answers = list(answers)
        self.seen: list[tuple[str, int, str]] = []

    async def answer(self, episode: Episode, timeline: Sequence[EpisodeStep], question: str) -> str:
        self.seen.append((episode.id, len(timeline), question))
        reply = self.answers[len(self.seen) - 1]
        if isinstance(reply, BaseException):
            raise reply
        return reply


def test_the_partner_adds_an_ask_user_tool_and_answers_it() -> None:
    partner = ScriptedPartner(["Put it in /archive."])
    plain = environment_class(["filesystem"])
    with_user = environment_class(["filesystem"], partner=partner)
    assert with_user is not plain and ASK_USER not in plain.__dict__
    assert [tool["function"]["name"] for tool in tool_schemas(with_user)][-1] == ASK_USER
    assert ASK_USER not in {tool["function"]["name"] for tool in tool_schemas(plain)}

    environment = environment_for(underspecified_episode(), partner=partner)
    assert asyncio.run(environment.ask_user(question="Which folder?")) == "Put it in /archive."  # type: ignore[attr-defined]
    environment.mkdir(path="/archive")  # type: ignore[attr-defined]
    assert [step.call.name for step in environment.timeline] == [ASK_USER, "mkdir"]
    assert [step.call.name for step in environment.steps] == ["mkdir"]  # questions are not backend calls
    assert environment.exchanges[0].content == "Put it in /archive." and environment.exchanges[0].ok


def test_bad_questions_a_dead_user_and_the_question_budget_come_back_as_errors() -> None:
    partner = ScriptedPartner([ConnectionError("refused"), *["fine"] * MAX_USER_QUESTIONS])
    environment = environment_for(underspecified_episode(), partner=partner)
    ask = environment.ask_user  # type: ignore[attr-defined]
    dead = asyncio.run(ask(question="Which folder?"))
    assert "did not answer" in dead and "ConnectionError" in dead
    assert "non-empty" in asyncio.run(ask(question="  "))
    for _ in range(MAX_USER_QUESTIONS - 2):
        assert asyncio.run(ask(question="And?")) == "fine"
    assert "question budget spent" in asyncio.run(ask(question="One more?"))
    assert [step.ok for step in environment.exchanges].count(True) == MAX_USER_QUESTIONS - 2
    assert not environment.steps


def test_a_rollout_asks_the_user_then_acts_on_the_answer(tokenizer: Any) -> None:  # noqa: F811
    partner = ScriptedPartner(["Please use /archive."])
    policy = ScriptedPolicy(tokenizer, [hermes(QUESTION), hermes(MKDIR), hermes(COPY), "Done."])
    outcome = asyncio.run(play_episode(underspecified_episode(), policy, tokenizer, max_completion_tokens=4096,
                                       max_tool_calling_iterations=4, partner=partner))
    assert outcome.success and outcome.shaped_reward == 1.0  # the question costs no sequence credit
    assert [step.name for step in outcome.steps] == ["mkdir", "copy"]
    assert [(x.name, x.result) for x in outcome.user_exchanges] == [(ASK_USER, "Please use /archive.")]
    assert '"name": "ask_user"' in policy.prompts[0]  # the tool was offered
    assert "Please use /archive." in policy.prompts[1]  # the answer reached the model as a tool result
    assert partner.seen == [("ask", 0, "Which folder should the backup go to?")]


def test_without_a_partner_ask_user_is_an_unknown_tool(tokenizer: Any) -> None:  # noqa: F811
    policy = ScriptedPolicy(tokenizer, [hermes(QUESTION), "I cannot ask."])
    outcome = asyncio.run(play_episode(underspecified_episode(), policy, tokenizer, max_completion_tokens=4096,
                                       max_tool_calling_iterations=4))
    assert not outcome.success and not outcome.user_exchanges
    assert '"name": "ask_user"' not in policy.prompts[0]
    assert "unknown tool 'ask_user'" in policy.prompts[1]


def test_the_user_simulator_sees_its_brief_the_calls_and_the_question() -> None:
    model = ScriptedChatModel(replies=[json.dumps({"message": "Use /archive, please.", "done": False})])
    partner = SimulatedUserPartner(lambda: model)
    episode = underspecified_episode()
    timeline = [EpisodeStep(call=ToolCall(name="ls", arguments={"path": "/"}), ok=True, content='["notes.txt"]')]
    answer = asyncio.run(partner.answer(episode, timeline, "Which folder?"))
    assert answer == "Use /archive, please."
    prompt = str(model.calls[0].messages[-1].content)
    assert "the folder is /archive" in prompt and "back up notes.txt" in prompt
    assert "ls" in prompt and "Which folder?" in prompt
    # without a brief the user knows the instruction and nothing more
    assert underspecified_episode(brief=False).user_brief() == UserBrief(task="Back up notes.txt into a new folder.")
    view = user_view(episode, timeline, "Which folder?")
    assert [m.role for m in view] == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]


def test_settings_need_episode_mode_and_a_partner(tmp_path: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(ValidationError, match="sample_kind: episode"):
        TrainSettings(simulated_user=True)
    data = tmp_path / "episodes.jsonl"
    write_jsonl(data, [underspecified_episode(f"e{i}") for i in range(3)])
    settings = TrainSettings(sample_kind="episode", simulated_user=True, max_steps=1)
    with pytest.raises(UserError, match=r"roles\.user_sim\.base_urls"):
        run_training(TrainJob(data=data, out=tmp_path / "run", settings=settings, model=str(tiny_model_dir)))


def test_trl_runs_ask_user_as_an_async_tool(tiny_model_dir: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """One GRPO step through TRL's tool loop: the scripted policy asks, the partner answers on
    TRL's event loop, the answer is in the next prompt, and the rollouts that then act succeed."""
    from trl import GRPOTrainer

    script = [hermes(QUESTION), hermes(MKDIR, COPY), "Done."]
    prompts: list[str] = []

    def generate(self: Any, prompt_ids: list[list[int]], images: Any, multimodal_fields: Any, num_generations: int,
                 has_tool_images: bool = False) -> tuple[list[list[int]], None]:
        out = []
        for ids in prompt_ids:
            text = self.processing_class.decode(ids)
            prompts.append(text)
            turn = min(text.count("<tool_response>"), 2)  # ask; act on the answer; answer in text
            tokens = self.processing_class(script[turn], add_special_tokens=False)["input_ids"]
            out.append(tokens + [self.processing_class.eos_token_id])
        return out, None

    monkeypatch.setattr(GRPOTrainer, "_generate_single_turn", generate)
    partner = ScriptedPartner(["The folder is /archive."] * 8)
    data = tmp_path / "episodes.jsonl"
    write_jsonl(data, [underspecified_episode(f"e{i}") for i in range(2)])
    settings = TrainSettings(sample_kind="episode", simulated_user=True, rewards=["episode_end_state"],
                             prompts_per_step=2, num_generations=2, max_completion_tokens=512, max_prompt_tokens=4096,
                             max_tool_calling_iterations=3, holdout_fraction=0.0, max_steps=1, save_steps=10,
                             save_final_model=False, evaluate_before=False, heldout_backend="transformers")
    report = run_training(TrainJob(data=data, out=tmp_path / "run", settings=settings, model=str(tiny_model_dir),
                                   user_partner=partner))
    assert report.steps == 1
    assert len(partner.seen) == 4  # every rollout asked once
    assert any("The folder is /archive." in prompt for prompt in prompts)
    assert report.reward_curve[0].rewards["episode_end_state"] == 1.0
