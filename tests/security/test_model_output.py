"""A model's output cannot crash training or evaluation: every parser returns a typed error
for any text, rewards score such completions 0, the benchmarks' decoder never raises."""

from __future__ import annotations

import json
import random

import pytest

from looptool.benchmarks.base import EndpointMode
from looptool.benchmarks.runner.chat import decode_reply
from looptool.codecs import (
    MAX_ARGUMENT_DEPTH,
    ParseErrorKind,
    ParseResult,
    decode_hermes_reply,
    json_value_problem,
    parse_hermes,
    parse_openai,
    parse_python,
    render_hermes,
    render_openai,
    render_python,
    tool_calls_match,
)
from looptool.schema import ToolCall
from looptool.training.examples import encode_label_calls
from looptool.training.rewards import score_tool_match, score_tool_match_shaped, tool_match
from tests.security.fuzz import SEED, random_value, run_bounded, texts

HUGE_INT = '<tool_call>{"name": "f", "arguments": {"x": ' + "1" * 5000 + "}}</tool_call>"
DEEP = '<tool_call>{"name": "f", "arguments": {"x": ' + "[" * 5000 + "]" * 5000 + "}}</tool_call>"
DEEP_UNDER_LIMIT = '<tool_call>{"name": "f", "arguments": {"x": ' + "[" * 900 + "]" * 900 + "}}</tool_call>"
LABEL = [ToolCall(name="f", arguments={"x": 1})]


def _checked(result: ParseResult) -> ParseResult:
    """The parser contract: calls or an error, never both; calls render in every format."""
    assert isinstance(result, ParseResult)
    if result.error is not None:
        assert result.calls == []
        assert isinstance(result.error.kind, ParseErrorKind)
        assert str(result.error)
    for call in result.calls:
        assert json_value_problem(call.arguments) is None
        render_hermes([call])
        render_openai([call])
        render_python([call])
    return result


@pytest.mark.parametrize("text", [HUGE_INT, DEEP, DEEP_UNDER_LIMIT])
@pytest.mark.parametrize("parse", [parse_hermes, decode_hermes_reply])
def test_hermes_refuses_huge_and_deep_json_with_a_typed_error(parse, text):
    result = _checked(parse(text))
    assert result.error is not None and result.error.kind is ParseErrorKind.TOO_LARGE


@pytest.mark.parametrize("arguments", ["1" * 5000, "[" * 5000, {"x": json.loads("[" * 900 + "]" * 900)}])
def test_openai_refuses_huge_and_deep_arguments(arguments):
    result = _checked(parse_openai([{"id": 7, "function": {"name": "f", "arguments": arguments}}]))
    assert result.error is not None and result.error.kind is ParseErrorKind.TOO_LARGE


@pytest.mark.parametrize("value", [{1, 2}, b"a", 1 + 2j, ..., object(), {1: 2}])
def test_openai_refuses_non_json_python_arguments(value):
    result = _checked(parse_openai([{"function": {"name": "f", "arguments": {"x": value}}}]))
    assert result.error is not None and result.error.kind is ParseErrorKind.NOT_JSON


def test_openai_ignores_a_non_string_id():
    result = _checked(parse_openai([{"id": 7, "function": {"name": "f", "arguments": {}}}]))
    assert result.ok and result.calls[0].id is None


@pytest.mark.parametrize(
    ("text", "snippet"),
    [("[f(x={1, 2})]", "{1, 2}"), ("[f(x=b'a')]", "b'a'"), ("[f(x=...)]", "..."), ("[f(x={1: 2})]", "1")],
)
def test_python_refuses_non_json_literals_where_they_are(text, snippet):
    result = _checked(parse_python(text))
    assert result.error is not None and result.error.kind is ParseErrorKind.NOT_JSON
    assert text[result.error.position :].startswith(snippet)


def test_python_refuses_complex_numbers():
    result = _checked(parse_python("[f(x=1+2j)]"))
    assert result.error is not None and result.error.kind is ParseErrorKind.NON_LITERAL


def test_python_tuples_become_json_lists():
    result = _checked(parse_python("[f(x=(1, (2, 'a')))]"))
    assert result.ok and result.calls[0].arguments == {"x": [1, [2, "a"]]}


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("[f(x=1),\n  g(y=)]", ")]"),
        ("  [f(x=1),\n  g(y=é, z=1)]", "é"),
        ("```python\n[f(x=1),\n g(y=b'')]\n```", "b''"),
        ("[f(a='東京',\r\n  b=[1,,2])]", ",2]"),
    ],
)
def test_multi_line_errors_point_into_the_text(text, at):
    result = _checked(parse_python(text))
    assert result.error is not None and result.error.position >= 0
    assert text[result.error.position :].startswith(at)


@pytest.mark.parametrize("text", ["f(x='\ud800')", "f(x=1)\x00", "-" * 100_000 + "1", "a." * 50_000 + "b()"])
def test_python_refuses_unparseable_text(text):
    assert _checked(parse_python(text)).error is not None


def test_tool_calls_match_survives_deep_arguments():
    deep: dict[str, object] = {"x": 1}
    for _ in range(5000):
        deep = {"x": deep}
    call = ToolCall(name="f", arguments=deep)
    assert tool_calls_match([call], [call]) is False
    shallow = ToolCall(name="f", arguments=json.loads("{" + '"x": {' * (MAX_ARGUMENT_DEPTH - 1) + "}" * MAX_ARGUMENT_DEPTH))
    assert tool_calls_match([shallow], [shallow]) is True


@pytest.mark.parametrize("text", [HUGE_INT, DEEP, DEEP_UNDER_LIMIT, "<tool_call>" * 1000])
@pytest.mark.parametrize("score", [score_tool_match, score_tool_match_shaped])
def test_rewards_score_hostile_completions_zero(score, text):
    assert score(text, "calls", LABEL) == 0.0


def test_reward_function_scores_a_hostile_batch_without_raising():
    rewards = tool_match(
        completions=[[{"role": "assistant", "content": text}] for text in (HUGE_INT, DEEP, render_hermes(LABEL))],
        label_kind=["calls"] * 3,
        label_calls=[encode_label_calls(LABEL)] * 3,
    )
    assert rewards == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("mode", list(EndpointMode))
@pytest.mark.parametrize("content", [HUGE_INT, DEEP, "[f(x={1, 2})]", ["a", "list"], 3, None])
def test_decode_reply_never_raises(mode, content):
    reply = decode_reply(mode, content, tool_calls=[{"function": {"name": "f", "arguments": "1" * 5000}}])
    assert reply.tool_calls == []
    if mode is EndpointMode.FUNCTION_CALLING or (mode is EndpointMode.PROMPT_HERMES and content in (HUGE_INT, DEEP)):
        assert reply.parse_error and "too_large" in reply.parse_error


def test_fuzz_parsers_and_rewards_return_typed_results():
    """Adversarial then random replies through every parser, reward and decoder: no
    exception, no call over a second, at most a few seconds in all."""

    decoded = {"hermes": 0, "python": 0}

    def every_consumer(text: str) -> None:
        decoded["hermes"] += bool(_checked(parse_hermes(text)).calls)
        _checked(decode_hermes_reply(text))
        decoded["python"] += bool(_checked(parse_python(text)).calls)
        _checked(parse_openai([{"function": {"name": "f", "arguments": text}}]))
        assert 0.0 <= score_tool_match_shaped(text, "calls", LABEL) <= 1.0
        assert score_tool_match(text, "text", []) in (0.0, 1.0)
        for mode in EndpointMode:
            decode_reply(mode, text)

    report = run_bounded(every_consumer, texts(20_000), budget_s=3.0, per_call_s=1.0)
    assert report.calls >= 100, report
    assert min(decoded.values()) >= 10, decoded  # the success path is exercised too


def test_fuzz_openai_objects_return_typed_results():
    rng = random.Random(SEED)

    def inputs():
        for _ in range(20_000):
            yield [{"id": random_value(rng), "function": {"name": rng.choice(["f", "", 3, None]),
                                                          "arguments": random_value(rng)}}]

    report = run_bounded(lambda item: _checked(parse_openai(item)), inputs(), budget_s=2.0, per_call_s=1.0)
    assert report.calls >= 100
