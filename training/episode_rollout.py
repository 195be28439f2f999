"""Play an episode greedily against fresh backends: held-out episode success and probing.

The rollout builds the token sequence exactly as TRL's tool loop does during training: the
prompt (chat template + the environment's tools), the model's turn ending in EOS, then the
template's rendering of the tool results up to the next assistant header, and so on. Each
turn is read by :func:`looptool.codecs.decode_hermes_reply` (the benchmarks' decoder). It
stops when the model answers in text, writes a malformed call, uses up the completion budget
(model and tool tokens, as in training) or reaches ``max_tool_calling_iterations``.

The policy is anything with ``complete(prompt_ids, max_tokens=..., temperature=0.0)``: the
project's OpenAI-compatible client on a vLLM server, or :class:`TransformersPolicy` in-process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from looptool.agents.backends.episode_env import (
    EpisodeStep,
    UserPartner,
    environment_class,
    environment_for,
    run_turn_call,
    tool_schemas,
)
from looptool.codecs import decode_hermes_reply
from looptool.completions import CompletionResult
from looptool.episodes import Episode
from looptool.logs import console
from looptool.schema import ToolCall
from looptool.training.episodes import episode_messages, score_episode
from looptool.training.evaluate import HeldoutPrediction, HeldoutResult

log = logging.getLogger(__name__)

StopReason = Literal["answered", "malformed", "token_budget", "turn_limit"]


class EpisodePolicy(Protocol):
    async def complete(
        self, prompt: str | list[int], *, max_tokens: int = 64, temperature: float = 0.0, **extra: Any
    ) -> Any: ...


class RolloutStep(BaseModel):
    name: str
    arguments: dict[str, Any]
    ok: bool
    result: str


class EpisodeOutcome(BaseModel):
    """One greedy rollout: what the model did and how it scored."""

    episode_id: str
    success: bool
    end_state_reward: float
    shaped_reward: float
    stop_reason: StopReason
    turns: list[str] = Field(description="the model's text, one entry per turn")
    steps: list[RolloutStep]
    user_exchanges: list[RolloutStep] = Field(
        default_factory=list, description="questions to the simulated user (ask_user) and its answers")
    problems: list[str] = Field(default_factory=list, description="why the end state missed")
    first_divergence: int | None = Field(default=None, description="first executed call off the reference sequence")
    completion_tokens: int = Field(default=0, description="model and tool-result tokens after the prompt")
    final_state: dict[str, dict[str, Any]] = Field(default_factory=dict)


def _ids(encoded: Any) -> list[int]:
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    return [int(token) for token in ids]


def episode_prompt_ids(tokenizer: Any, episode: Episode, preamble: str = "",
                       partner: UserPartner | None = None) -> list[int]:
    """The first prompt of ``episode`` as TRL renders it in training."""
    tools = tool_schemas(environment_class(episode.backends, partner=partner))
    return _ids(tokenizer.apply_chat_template(episode_messages(episode, preamble), tools=tools,
                                              tokenize=True, add_generation_prompt=True))


def tool_suffix_ids(tokenizer: Any, tool_messages: list[dict[str, Any]]) -> list[int]:
    """What the chat template puts after an assistant turn's EOS for these tool results, up
    to the next assistant header (TRL's ``_get_tool_suffix_ids``)."""
    calls = [{"type": "function", "function": {"name": tool_messages[0]["name"], "arguments": {}}}]
    dummy = [{"role": "user", "content": "dummy"}, {"role": "assistant", "content": "", "tool_calls": calls}]
    prefix = _ids(tokenizer.apply_chat_template(dummy, add_generation_prompt=False, tokenize=True))
    full = _ids(tokenizer.apply_chat_template(dummy + tool_messages, add_generation_prompt=True, tokenize=True))
    eos = [index for index, token in enumerate(prefix) if token == tokenizer.eos_token_id]
    if eos:
        prefix = prefix[: eos[-1] + 1]
    if full[: len(prefix)] != prefix:
        raise ValueError("the chat template does not render tool results after the assistant turn as a suffix")
    return full[len(prefix):]


async def play_episode(
    episode: Episode,
    policy: EpisodePolicy,
    tokenizer: Any,
    *,
    max_completion_tokens: int,
    max_tool_calling_iterations: int,
    preamble: str = "",
    partner: UserPartner | None = None,
) -> EpisodeOutcome:
    """One greedy rollout of ``episode`` on fresh backends (see the module docstring); with a
    simulated user ``partner`` the model may also call ``ask_user``."""
    environment = environment_for(episode, partner=partner)
    ids = episode_prompt_ids(tokenizer, episode, preamble, partner)
    eos_ids = [int(tokenizer.eos_token_id)]
    turns: list[str] = []
    used = 0  # model and tool-result tokens after the prompt (the training budget)
    malformed = False
    stop: StopReason = "turn_limit"
    for iteration in range(max_tool_calling_iterations + 1):
        budget = max_completion_tokens - used
        if budget <= 0:
            stop = "token_budget"
            break
        result = await policy.complete(ids, max_tokens=budget, temperature=0.0)
        text = str(result.text)
        turns.append(text)
        used += int(result.completion_tokens)
        parsed = decode_hermes_reply(text)
        if not parsed.ok or (result.finish_reason == "length" and "<tool_call>" in text and not parsed.calls):
            malformed, stop = True, "malformed"
            break
        if not parsed.calls:
            stop = "answered"
            break
        if iteration == max_tool_calling_iterations:
            break  # no more tool rounds: the calls of this turn are not executed (TRL's bound)
        steps = [await run_turn_call(environment, ToolCall(name=call.name, arguments=call.arguments))
                 for call in parsed.calls]
        if result.finish_reason == "length":
            stop = "token_budget"  # cut off after complete calls: they ran, nothing follows (as in training)
            break
        tool_messages = [{"role": "tool", "name": step.call.name, "content": step.content} for step in steps]
        turn_ids = _ids(tokenizer(text, add_special_tokens=False)) + eos_ids
        suffix = tool_suffix_ids(tokenizer, tool_messages)
        ids = ids + turn_ids + suffix
        used += len(suffix)
    score = score_episode(episode, environment.steps, environment.final_state, malformed=malformed)
    return EpisodeOutcome(
        episode_id=episode.id, success=score.end_state == 1.0, end_state_reward=score.end_state,
        shaped_reward=score.shaped, stop_reason=stop, turns=turns,
        steps=[_rollout_step(step) for step in environment.steps],
        user_exchanges=[_rollout_step(step) for step in environment.exchanges],
        problems=list(score.problems), first_divergence=score.first_divergence,
        completion_tokens=used, final_state=environment.final_state,
    )


def _rollout_step(step: EpisodeStep) -> RolloutStep:
    return RolloutStep(name=step.call.name, arguments=step.call.arguments, ok=step.ok, result=step.content)


class TransformersPolicy:
    """Greedy ``generate`` in-process, behind the client's ``complete`` signature."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer

    async def complete(self, prompt: str | list[int], *, max_tokens: int = 64, temperature: float = 0.0,
                       **extra: Any) -> CompletionResult:
        import torch

        ids = prompt if isinstance(prompt, list) else _ids(self.tokenizer(prompt, add_special_tokens=False))
        device = next(self.model.parameters()).device
        inputs = torch.tensor([ids], device=device)
        with torch.inference_mode():
            output = self.model.generate(inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=max_tokens,
                                         do_sample=False, pad_token_id=self.tokenizer.pad_token_id)
        new = [int(token) for token in output[0, len(ids):]]
        stopped = bool(new) and new[-1] == self.tokenizer.eos_token_id
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return CompletionResult(text=text, finish_reason="stop" if stopped else "length",
                                prompt_tokens=len(ids), completion_tokens=len(new))


class EpisodeEvaluation(BaseModel):
    """Held-out end-state success over a set of episodes."""

    outcomes: list[EpisodeOutcome]
    seconds: float

    @property
    def success_rate(self) -> float | None:
        return sum(o.success for o in self.outcomes) / len(self.outcomes) if self.outcomes else None

    def as_heldout(self) -> HeldoutResult:
        """In the train report's held-out shape (accuracy = end-state success rate)."""
        return HeldoutResult(
            samples=len(self.outcomes), accuracy=self.success_rate, seconds=self.seconds,
            predictions=[HeldoutPrediction(sample_id=o.episode_id, completion="\n<turn>\n".join(o.turns),
                                           reward=o.end_state_reward) for o in self.outcomes])


async def evaluate_episodes(
    episodes: Sequence[Episode], policy: EpisodePolicy, tokenizer: Any, *, max_completion_tokens: int,
    max_tool_calling_iterations: int, preamble: str = "", concurrency: int = 1, description: str = "episodes",
    partner: UserPartner | None = None,
) -> EpisodeEvaluation:
    """Play every episode greedily (``concurrency`` at a time) with a progress bar."""
    from rich.progress import Progress

    started = time.perf_counter()
    semaphore = asyncio.Semaphore(concurrency)
    outcomes: list[EpisodeOutcome | None] = [None] * len(episodes)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(description, total=len(episodes))

        async def one(index: int, episode: Episode) -> None:
            async with semaphore:
                outcomes[index] = await play_episode(
                    episode, policy, tokenizer, max_completion_tokens=max_completion_tokens,
                    max_tool_calling_iterations=max_tool_calling_iterations, preamble=preamble,
                    partner=partner)
            progress.advance(task)

        await asyncio.gather(*(one(index, episode) for index, episode in enumerate(episodes)))
    done = [outcome for outcome in outcomes if outcome is not None]
    evaluation = EpisodeEvaluation(outcomes=done, seconds=time.perf_counter() - started)
    log.info("%s: end-state success %s on %d episodes (%.1f s)", description,
             "n/a" if evaluation.success_rate is None else f"{evaluation.success_rate:.3f}", len(done),
             evaluation.seconds)
    return evaluation


def write_outcomes(path: Path, evaluation: EpisodeEvaluation) -> None:
    from looptool.jsonl import write_jsonl

    write_jsonl(path, evaluation.outcomes)
