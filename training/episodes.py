"""Episode training data and rewards: TRL ``environment_factory`` over the project's backends.

One dataset row per episode: ``prompt`` (the system part and the user's instruction as chat
messages, *without* the tool list), ``environment`` (which backend set serves it) and
``episode`` (the episode as JSON, handed to the environment's ``reset``). TRL renders the tool
list from the environment with the model's chat template; the trainer hands TRL the tools as
the same OpenAI function dicts the single-step prompt lists (:func:`use_spec_schemas`), so an
episode's first prompt is token for token the prompt :func:`looptool.prompts.render_prompt`
gives for the same tools and context (tested).

Rewards (picked by name in ``train.rewards``; registered in the one reward registry):

* ``episode_end_state`` — 1 when the backends end in the expected state and no turn held a
  malformed call, else 0 (the paper's binary spirit).
* ``episode_shaped`` — 0.5 x end-state match + 0.5 x per-step ToolMatch credit (the longest
  in-order run of executed calls that match the reference sequence, over the longer of the
  two sequences); 1 only when both are exact, 0 on a malformed call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from looptool.agents.backends.episode_env import (
    EpisodeEnvironment,
    EpisodeStep,
    UserPartner,
    environment_class,
    tool_schemas,
)
from looptool.codecs import tool_calls_match
from looptool.episodes import Episode, end_state_differences
from looptool.errors import UserError
from looptool.prompts import date_line
from looptool.schema import Role, ToolCall
from looptool.training.rewards import register_reward

log = logging.getLogger(__name__)

EPISODE_REWARDS = ("episode_end_state", "episode_shaped")
TOOL_CALL_OPEN = "<tool_call>"


def episode_messages(episode: Episode, preamble: str = "") -> list[dict[str, Any]]:
    """The episode's prompt as chat messages, the tool list left to the chat template: one
    system message (preamble, the episode's system messages, its date/time), then the user
    turns. With the tools rendered this equals ``render_prompt``'s messages."""
    system_parts = [preamble] if preamble else []
    rest: list[dict[str, Any]] = []
    for message in episode.context:
        if message.role == Role.SYSTEM:
            system_parts.append(message.content)
        else:
            rest.append({"role": message.role.value, "content": message.content})
    if episode.now:
        system_parts.append(date_line(episode.now))
    system = "\n\n".join(part.strip() for part in system_parts if part.strip())
    return [{"role": "system", "content": system}, *rest]


@dataclass(frozen=True)
class EpisodeRow:
    """One TRL dataset row."""

    episode_id: str
    prompt: list[dict[str, Any]]
    environment: str
    backends: tuple[str, ...]
    episode: str
    prompt_tokens: int

    def as_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "environment": self.environment, "episode": self.episode}


@dataclass(frozen=True)
class EpisodeRows:
    """The rows that fit the prompt limit, and how many did not."""

    rows: list[EpisodeRow]
    over_limit: int = 0
    max_prompt_tokens_seen: int = 0
    partner: UserPartner | None = None

    def dicts(self) -> list[dict[str, Any]]:
        return [row.as_dict() for row in self.rows]

    def environments(self) -> dict[str, type[EpisodeEnvironment]]:
        """Environment name -> class, for every backend set the rows use."""
        return {row.environment: environment_class(row.backends, partner=self.partner) for row in self.rows}


def prompt_token_count(tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
    encoded = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, add_generation_prompt=True)
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    return len(ids)


def build_episode_rows(episodes: Sequence[Episode], tokenizer: Any, *, max_prompt_tokens: int,
                       preamble: str = "", partner: UserPartner | None = None) -> EpisodeRows:
    """Rows for TRL (environments with ``ask_user`` when a simulated user ``partner`` is given);
    an episode whose first prompt is over ``max_prompt_tokens`` is dropped and counted (an
    episode has no older turns to cut)."""
    rows: list[EpisodeRow] = []
    over = 0
    longest = 0
    for episode in episodes:
        environment = environment_class(episode.backends, partner=partner)
        messages = episode_messages(episode, preamble)
        tokens = prompt_token_count(tokenizer, messages, tool_schemas(environment))
        longest = max(longest, tokens)
        if tokens > max_prompt_tokens:
            over += 1
            log.warning("episode %s: prompt of %d tokens is over train.max_prompt_tokens=%d; dropped",
                        episode.id, tokens, max_prompt_tokens)
            continue
        rows.append(EpisodeRow(episode_id=episode.id, prompt=messages, environment=episode.environment_name,
                               backends=tuple(episode.backends), episode=episode.model_dump_json(),
                               prompt_tokens=tokens))
    return EpisodeRows(rows=rows, over_limit=over, max_prompt_tokens_seen=longest, partner=partner)


# --- scoring ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EpisodeScore:
    """How a finished rollout did."""

    end_state: float
    shaped: float
    malformed: bool
    problems: tuple[str, ...]
    first_divergence: int | None
    """Index of the first executed call that differs from the reference sequence (None: no
    divergence, or no reference)."""


def _same_call(left: ToolCall, right: ToolCall) -> bool:
    return tool_calls_match([left], [right])


def in_order_credit(executed: Sequence[ToolCall], reference: Sequence[ToolCall]) -> float:
    """Longest common subsequence of matching calls over the longer sequence (1 = equal)."""
    if not executed and not reference:
        return 1.0
    table = [[0] * (len(reference) + 1) for _ in range(len(executed) + 1)]
    for i, call in enumerate(executed, start=1):
        for j, expected in enumerate(reference, start=1):
            table[i][j] = (table[i - 1][j - 1] + 1 if _same_call(call, expected)
                           else max(table[i - 1][j], table[i][j - 1]))
    return table[-1][-1] / max(len(executed), len(reference))


def first_divergence(executed: Sequence[ToolCall], reference: Sequence[ToolCall]) -> int | None:
    if not reference:
        return None
    for index, call in enumerate(executed):
        if index >= len(reference) or not _same_call(call, reference[index]):
            return index
    return len(executed) if len(executed) < len(reference) else None


def score_episode(episode: Episode, steps: Sequence[EpisodeStep], final_state: dict[str, dict[str, Any]],
                  *, malformed: bool) -> EpisodeScore:
    """End-state and shaped scores of one rollout (both 0 after a malformed call)."""
    problems = end_state_differences(episode.expected.end_state, final_state)
    executed = [step.call for step in steps if step.ok]
    reference = episode.expected.calls
    divergence = first_divergence([step.call for step in steps], reference)
    if malformed:
        return EpisodeScore(0.0, 0.0, True, ("a turn held a malformed tool call", *problems), divergence)
    end_state = 0.0 if problems else 1.0
    sequence = in_order_credit(executed, reference) if reference else end_state
    return EpisodeScore(end_state, 0.5 * end_state + 0.5 * sequence, False, tuple(problems), divergence)


def turn_is_malformed(message: Any) -> bool:
    """A TRL completion message whose text still holds a ``<tool_call>`` block: TRL's parser
    could not read the call (broken JSON, cut by the length limit) and left it as text."""
    if isinstance(message, dict):
        return message.get("role", "assistant") == "assistant" and TOOL_CALL_OPEN in str(message.get("content") or "")
    return isinstance(message, str) and TOOL_CALL_OPEN in message


def _completion_malformed(completion: Any) -> bool:
    if isinstance(completion, list):
        return any(turn_is_malformed(message) for message in completion)
    return turn_is_malformed(completion)


def _scores(completions: Sequence[Any], environments: Sequence[EpisodeEnvironment] | None) -> list[EpisodeScore]:
    if environments is None:
        raise UserError("episode rewards score rollouts in episode environments: use them with train.sample_kind: episode")
    return [score_episode(env.episode, env.steps, env.final_state, malformed=_completion_malformed(completion))
            for completion, env in zip(completions, environments, strict=True)]


@register_reward("episode_end_state")
def episode_end_state(completions: Sequence[Any], environments: Sequence[EpisodeEnvironment] | None = None,
                      **columns: Any) -> list[float]:
    """1 when the backends end in the expected state and no turn held a malformed call."""
    return [score.end_state for score in _scores(completions, environments)]


@register_reward("episode_shaped")
def episode_shaped(completions: Sequence[Any], environments: Sequence[EpisodeEnvironment] | None = None,
                   **columns: Any) -> list[float]:
    """0.5 x end-state match + 0.5 x in-order ToolMatch credit against the reference calls."""
    return [score.shaped for score in _scores(completions, environments)]


# --- TRL hookup ---------------------------------------------------------------------------


def prepare_tool_tokenizer(tokenizer: Any) -> Any:
    """Give the tokenizer a response parser for Hermes ``<tool_call>`` blocks when it has none.

    TRL reads tool calls with ``tokenizer.parse_response``. Templates TRL knows get theirs
    from TRL; a ChatML template that writes Hermes calls (the embedded model's, Qwen-style
    ones) gets TRL's Qwen3 parser, which reads exactly that format."""
    if getattr(tokenizer, "response_template", None) is not None or getattr(tokenizer, "response_schema", None):
        return tokenizer
    from trl.chat_template_utils import add_response_schema, qwen3_template

    try:
        return add_response_schema(tokenizer)
    except ValueError:
        pass
    template = str(tokenizer.chat_template or "")
    if "<|im_start|>" not in template or TOOL_CALL_OPEN not in template:
        raise UserError(
            "episode training needs a chat template that writes tool calls as Hermes <tool_call> blocks in "
            "ChatML turns (as the embedded model's and Qwen's do); this model's template does not")
    tokenizer.response_template = qwen3_template
    return tokenizer


def use_spec_schemas(trainer: Any, environments: dict[str, type[EpisodeEnvironment]]) -> None:
    """Have TRL render (and type-parse) each environment's tools from the backends' own JSON
    Schemas rather than from Python signatures, so the prompt lists the same tool dicts as the
    single-step prompt and the benchmarks."""
    current = getattr(trainer, "_env_tools", None)
    if not isinstance(current, dict):
        raise UserError("this TRL version keeps environment tools elsewhere; episode training was built for TRL 1.16")
    for name, environment in environments.items():
        if name not in current:
            raise UserError(f"TRL has no environment {name!r} (known: {sorted(map(str, current))})")
        current[name] = tool_schemas(environment)

