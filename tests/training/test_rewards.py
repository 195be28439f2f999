"""Truth tables for the tool-calling rewards, in TRL's calling convention."""

from __future__ import annotations

import json

import pytest

from looptool.schema import ToolCall
from looptool.training.examples import encode_label_calls
from looptool.training.rewards import (
    REWARDS,
    UnknownRewardError,
    get_rewards,
    tool_match,
    tool_match_shaped,
)

WEATHER_PARIS = ToolCall(name="get_weather", arguments={"city": "Paris", "days": 1})
TIME_PARIS = ToolCall(name="get_time", arguments={"city": "Paris"})


def block(name: str, arguments: dict[str, object]) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def score(reward, text: str, label_calls: list[ToolCall] | None = None, label_text: str | None = None) -> float:
    """Call ``reward`` the way TRL does: chat completions plus column lists as kwargs."""
    kind = "text" if label_text is not None else "calls"
    rewards = reward(
        completions=[[{"role": "assistant", "content": text}]],
        prompts=[[{"role": "user", "content": "q"}]],
        completion_ids=[[1, 2]],
        label_kind=[kind],
        label_calls=[encode_label_calls(label_calls or [])],
        label_text=[label_text or ""],
        trainer_state=None,
    )
    assert len(rewards) == 1
    return rewards[0]


PARALLEL = [WEATHER_PARIS, TIME_PARIS]
EXACT = block("get_weather", {"city": "Paris", "days": 1})

CALL_CASES = [
    ("exact match", EXACT, [WEATHER_PARIS], 1.0),
    ("key order inside arguments", block("get_weather", {"days": 1, "city": "Paris"}), [WEATHER_PARIS], 1.0),
    ("1 vs 1.0", block("get_weather", {"city": "Paris", "days": 1.0}), [WEATHER_PARIS], 1.0),
    ("1 vs '1'", block("get_weather", {"city": "Paris", "days": "1"}), [WEATHER_PARIS], 0.0),
    ("true is not 1", block("get_weather", {"city": "Paris", "days": True}), [WEATHER_PARIS], 0.0),
    (
        "reordered parallel calls",
        block("get_time", {"city": "Paris"}) + "\n" + EXACT,
        PARALLEL,
        1.0,
    ),
    ("wrong argument value", block("get_weather", {"city": "Lyon", "days": 1}), [WEATHER_PARIS], 0.0),
    ("missing argument", block("get_weather", {"city": "Paris"}), [WEATHER_PARIS], 0.0),
    ("extra argument", block("get_weather", {"city": "Paris", "days": 1, "unit": "c"}), [WEATHER_PARIS], 0.0),
    ("wrong tool name", block("get_time", {"city": "Paris", "days": 1}), [WEATHER_PARIS], 0.0),
    ("extra call", EXACT + "\n" + block("get_time", {"city": "Paris"}), [WEATHER_PARIS], 0.0),
    ("duplicated call", EXACT + "\n" + EXACT, [WEATHER_PARIS], 0.0),
    ("missing call", EXACT, PARALLEL, 0.0),
    ("unparseable JSON", '<tool_call>\n{"name": "get_weather", "arguments": {"city": }\n</tool_call>', [WEATHER_PARIS], 0.0),
    ("unclosed block", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 1}}', [WEATHER_PARIS], 0.0),
    ("plain text instead of a call", "The weather in Paris is sunny.", [WEATHER_PARIS], 0.0),
    ("empty completion", "", [WEATHER_PARIS], 0.0),
    # the benchmarks' prompt_hermes decoder ignores text after the last block, and so does the reward
    ("text after the call", EXACT + "\nHope that helps!", [WEATHER_PARIS], 1.0),
    ("<think> prefix", "<think>\nThe user wants Paris weather.\n</think>\n\n" + EXACT, [WEATHER_PARIS], 1.0),
    ("unclosed <think>", "<think>\nhmm " + EXACT, [WEATHER_PARIS], 0.0),
    ("think then wrong call", "<think>x</think>" + block("get_weather", {"city": "Rome", "days": 1}), [WEATHER_PARIS], 0.0),
]


@pytest.mark.parametrize(("case", "text", "label", "expected"), CALL_CASES, ids=[c[0] for c in CALL_CASES])
def test_tool_match_call_labels(case: str, text: str, label: list[ToolCall], expected: float) -> None:
    assert score(tool_match, text, label) == expected


TEXT_CASES = [
    ("text reply", "Which city do you mean?", 1.0),
    ("text reply after think", "<think>no city given</think>\nWhich city?", 1.0),
    ("tool call instead of text", EXACT, 0.0),
    ("broken tool call instead of text", "<tool_call>\n{oops\n</tool_call>", 0.0),
    ("empty reply", "   ", 0.0),
]


@pytest.mark.parametrize(("case", "text", "expected"), TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_tool_match_text_labels(case: str, text: str, expected: float) -> None:
    assert score(tool_match, text, label_text="Which city?") == expected


def test_plain_string_completions_are_accepted() -> None:
    rewards = tool_match(
        completions=[EXACT, "nope"],
        label_kind=["calls", "calls"],
        label_calls=[encode_label_calls([WEATHER_PARIS])] * 2,
    )
    assert rewards == [1.0, 0.0]


def test_shaped_reward_orders_answers_by_closeness() -> None:
    label = PARALLEL
    exact = block("get_time", {"city": "Paris"}) + "\n" + EXACT
    one_wrong_value = block("get_time", {"city": "Paris"}) + "\n" + block("get_weather", {"city": "Rome", "days": 1})
    one_call_only = EXACT
    wrong_names = block("get_news", {"city": "Paris"})
    trailing = exact + "\nDone."
    garbage = "I think it is sunny"
    scores = {name: score(tool_match_shaped, text, label) for name, text in {
        "exact": exact,
        "one_wrong_value": one_wrong_value,
        "one_call_only": one_call_only,
        "wrong_names": wrong_names,
        "trailing": trailing,
        "garbage": garbage,
    }.items()}
    assert scores["exact"] == 1.0
    assert scores["garbage"] == 0.0
    assert 0.0 < scores["wrong_names"] < scores["one_call_only"] < scores["one_wrong_value"] < 1.0
    assert scores["trailing"] == 1.0  # exact calls with text after them: correct in evaluation too
    # format credit alone: a well-formed call to an unknown tool
    assert scores["wrong_names"] == pytest.approx(0.2)
    # every inexact answer stays below the exact one, and all are in [0, 1]
    assert all(0.0 <= value <= 1.0 for value in scores.values())


def test_shaped_reward_agrees_with_binary_on_text_labels() -> None:
    for text, _expected in [(t, e) for _, t, e in TEXT_CASES]:
        assert score(tool_match_shaped, text, label_text="x") == score(tool_match, text, label_text="x")


def test_registry_names_and_typos() -> None:
    assert {"tool_match", "tool_match_shaped"} <= set(REWARDS.names())
    assert [func.__name__ for func in get_rewards(["tool_match", "tool_match_shaped"])] == [
        "tool_match",
        "tool_match_shaped",
    ]
    with pytest.raises(UnknownRewardError, match="did you mean 'tool_match'"):
        get_rewards(["tool_mach"])


def test_registering_a_reward_by_decorator() -> None:
    @REWARDS.register("always_half_for_test")
    def half(completions, **columns):
        return [0.5 for _ in completions]

    assert REWARDS.get("always_half_for_test") is half
    with pytest.raises(ValueError, match="already registered"):
        REWARDS.register("always_half_for_test")(lambda completions, **columns: [])
