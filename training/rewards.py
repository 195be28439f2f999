"""Reward functions for tool calling, in TRL's signature, picked by name.

A reward is a plain function ``(completions, **columns) -> list[float]``: TRL passes the
completions (chat form ``[{"role": "assistant", "content": ...}]`` or plain strings) and
every extra dataset column as a keyword list (``label_kind``, ``label_calls`` (JSON),
``label_text``). Register one with :func:`register_reward`; an outside package can add
rewards through the ``looptool.rewards`` entry-point group. Episode rewards (scored on the
environment of a multi-step rollout) live in :mod:`training.episodes`. TRL logs each reward's mean
under ``rewards/<name>/mean``, so the function's ``__name__`` is its registry name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from looptool.codecs import decode_hermes_reply, parse_hermes, tool_calls_match
from looptool.errors import UnknownNameError
from looptool.registry import Registry
from looptool.schema import ToolCall
from looptool.training.examples import decode_label_calls

RewardFunc = Callable[..., list[float]]
ENTRY_POINT_GROUP = "looptool.rewards"


class UnknownRewardError(UnknownNameError, KeyError):
    """A reward name that no registered reward has; the message suggests the closest."""


def check_reward(name: str, func: RewardFunc) -> RewardFunc:
    """Refuse a non-callable; name the function after its registry name (TRL logs
    ``rewards/<__name__>/mean``)."""
    if not callable(func):
        raise TypeError(f"reward {name!r}: {func!r} is not callable")
    func.__name__ = name
    return func


REWARDS: Registry[RewardFunc] = Registry(
    "reward",
    builtin_modules=(__name__, "looptool.training.episodes"),
    entry_point_group=ENTRY_POINT_GROUP,
    check=check_reward,
    unknown_error=UnknownRewardError,
)


def register_reward(name: str) -> Callable[[RewardFunc], RewardFunc]:
    """Function decorator: register a reward under ``name``."""
    return REWARDS.register(name)


def get_rewards(names: Sequence[str]) -> list[RewardFunc]:
    """The reward functions named ``names``, in order (a typo suggests the closest name)."""
    return [REWARDS.get(name) for name in names]


def completion_text(completion: Any) -> str:
    """The assistant text of one TRL completion (chat form or plain string)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content") or "")
    if isinstance(completion, list):
        return "".join(
            str(message.get("content") or "")
            for message in completion
            if isinstance(message, dict) and message.get("role", "assistant") == "assistant"
        )
    return str(completion)


def _column(columns: dict[str, Any], name: str, count: int, default: Any) -> list[Any]:
    values = columns.get(name)
    if values is None:
        return [default] * count
    return list(values)


def score_tool_match(text: str, label_kind: str, label_calls: list[ToolCall]) -> float:
    """1.0 when ``text`` answers the label exactly (see :func:`tool_match`), else 0.0.

    The completion is read by :func:`looptool.codecs.decode_hermes_reply`, the decoder of
    the benchmarks' ``prompt_hermes`` mode and of the loop's probe, so a completion earns the
    reward exactly when evaluation would count it correct."""
    parsed = decode_hermes_reply(text)
    if label_kind == "text":
        return 1.0 if parsed.ok and not parsed.calls and parsed.content.strip() else 0.0
    if not parsed.ok or not parsed.calls:
        return 0.0
    return 1.0 if tool_calls_match(parsed.calls, label_calls) else 0.0


@register_reward("tool_match")
def tool_match(completions: Sequence[Any], **columns: Any) -> list[float]:
    """The paper's binary reward.

    Call labels: 1 when the completion (after an optional ``<think>`` block and text before
    the first block; text after the last block is ignored, as the benchmarks' decoder does)
    holds ``<tool_call>`` blocks that parse and whose multiset of {name, arguments} equals the
    label's (ToolMatch: order-free across calls, ``1 == 1.0``). Text-reply labels: 1 when the
    completion makes no tool call and says something. Anything else, 0.
    """
    count = len(completions)
    kinds = _column(columns, "label_kind", count, "calls")
    calls = _column(columns, "label_calls", count, "[]")
    return [
        score_tool_match(completion_text(completion), kind, decode_label_calls(label))
        for completion, kind, label in zip(completions, kinds, calls, strict=True)
    ]


def _argument_credit(predicted: ToolCall, label: ToolCall) -> float:
    """Share of argument keys (union of both) whose values match by ToolMatch rules."""
    keys = set(predicted.arguments) | set(label.arguments)
    if not keys:
        return 1.0
    equal = sum(
        1
        for key in keys
        if key in predicted.arguments
        and key in label.arguments
        and tool_calls_match(
            [ToolCall(name="v", arguments={key: predicted.arguments[key]})],
            [ToolCall(name="v", arguments={key: label.arguments[key]})],
        )
    )
    return equal / len(keys)


def _paired_credit(predicted: list[ToolCall], label: list[ToolCall]) -> tuple[float, float]:
    """(name credit, argument credit), each a sum over greedily paired same-name calls."""
    remaining = list(label)
    names = 0.0
    arguments = 0.0
    for call in predicted:
        candidates = [item for item in remaining if item.name == call.name]
        if not candidates:
            continue
        best = max(candidates, key=lambda item: _argument_credit(call, item))
        remaining.remove(best)
        names += 1.0
        arguments += _argument_credit(call, best)
    return names, arguments


FORMAT_WEIGHT = 0.2
NAME_WEIGHT = 0.3
ARGUMENT_WEIGHT = 0.5


def score_tool_match_shaped(text: str, label_kind: str, label_calls: list[ToolCall]) -> float:
    """Partial credit in [0, 1]; exactly 1 only where :func:`score_tool_match` is 1."""
    if label_kind == "text" or score_tool_match(text, label_kind, label_calls) == 1.0:
        return score_tool_match(text, label_kind, label_calls)
    strict = parse_hermes(text)
    parsed = strict if strict.ok else parse_hermes(text, allow_trailing_text=True)
    if not parsed.ok or not parsed.calls:
        return 0.0
    format_credit = 1.0 if strict.ok else 0.5
    size = max(len(parsed.calls), len(label_calls))
    names, arguments = _paired_credit(parsed.calls, label_calls)
    score = FORMAT_WEIGHT * format_credit + NAME_WEIGHT * names / size + ARGUMENT_WEIGHT * arguments / size
    return min(score, 0.95)  # an inexact answer never earns the exact answer's reward


@register_reward("tool_match_shaped")
def tool_match_shaped(completions: Sequence[Any], **columns: Any) -> list[float]:
    """A finer reward for small models that never hit the binary one.

    0.2 for well-formed ``<tool_call>`` blocks (0.1 when text trails them; an exact answer with
    trailing text scores 1, as in ``tool_match``), 0.3 x the share
    of calls with a label tool name, 0.5 x the share of matching arguments in name-paired
    calls (both shares over the larger of the two call counts). Capped at 0.95 unless the
    answer matches exactly (then 1). Text-reply labels score like ``tool_match``.
    """
    count = len(completions)
    kinds = _column(columns, "label_kind", count, "calls")
    calls = _column(columns, "label_calls", count, "[]")
    return [
        score_tool_match_shaped(completion_text(completion), kind, decode_label_calls(label))
        for completion, kind, label in zip(completions, kinds, calls, strict=True)
    ]
