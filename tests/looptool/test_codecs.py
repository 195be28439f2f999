import pytest

from looptool.codecs import (
    ParseErrorKind,
    parse_hermes,
    parse_openai,
    parse_python,
    render_hermes,
    render_openai,
    render_python,
    tool_calls_match,
)
from looptool.schema import ToolCall

CALLS = [
    ToolCall(name="get_weather", arguments={"city": "Zürich", "units": "metric", "days": 3}),
    ToolCall(name="math.add", arguments={"a": [1, 2.5, -3], "opts": {"x": None, "y": True}}),
    ToolCall(name="noop", arguments={}),
    ToolCall(name="quote", arguments={"text": 'he said "hi" and \'bye\'\nnew line'}),
]


@pytest.mark.parametrize("calls", [CALLS, CALLS[:1], []])
def test_hermes_round_trip(calls):
    text = render_hermes(calls)
    result = parse_hermes(text)
    assert result.ok, result.error
    assert result.calls == calls


def test_hermes_round_trip_with_think_and_content():
    text = render_hermes(CALLS[:2], think="need weather first")
    result = parse_hermes(text)
    assert result.ok
    assert result.reasoning == "need weather first"
    assert result.calls == CALLS[:2]


def test_openai_round_trip():
    result = parse_openai(render_openai(CALLS))
    assert result.ok
    assert [c.model_copy(update={"id": None}) for c in result.calls] == CALLS
    assert result.calls[0].id == "call_0"


def test_python_round_trip():
    text = render_python(CALLS)
    result = parse_python(text)
    assert result.ok, result.error
    assert result.calls == CALLS


def test_python_without_brackets_and_special_floats():
    result = parse_python("f(x=-1.5, y=float('inf'))")
    assert result.ok
    assert result.calls[0].arguments == {"x": -1.5, "y": float("inf")}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('<tool_call>\n{"name": "f", "arguments": {}}\n', ParseErrorKind.UNCLOSED_TAG),
        ('<tool_call>\n{"name": "f", "arguments": {}\n</tool_call>', ParseErrorKind.INVALID_JSON),
        ('<tool_call>{"name": "f", "arguments": {}}</tool_call> and more', ParseErrorKind.TRAILING_TEXT),
        ("<tool_call>[1, 2]</tool_call>", ParseErrorKind.BAD_STRUCTURE),
        ('<tool_call>{"arguments": {}}</tool_call>', ParseErrorKind.BAD_STRUCTURE),
        ('<tool_call>{"name": "f", "arguments": 3}</tool_call>', ParseErrorKind.BAD_STRUCTURE),
        ("<think>never closed <tool_call>", ParseErrorKind.UNCLOSED_TAG),
        ('<tool_call><tool_call>{"name":"f"}</tool_call>', ParseErrorKind.UNCLOSED_TAG),
        ("</tool_call>", ParseErrorKind.BAD_STRUCTURE),
    ],
)
def test_hermes_malformed(text, kind):
    result = parse_hermes(text)
    assert not result.ok
    assert result.error.kind == kind
    assert result.calls == []


def test_hermes_error_position_points_into_text():
    text = 'ok <tool_call>\n{"name": "f", "arguments": {,}}\n</tool_call>'
    result = parse_hermes(text)
    assert result.error.kind == ParseErrorKind.INVALID_JSON
    assert text[result.error.position] == ","


def test_hermes_plain_text_is_not_an_error():
    result = parse_hermes("I need your city first.")
    assert result.ok and result.calls == [] and result.content == "I need your city first."


def test_hermes_nested_quotes_and_unicode():
    text = '<tool_call>\n{"name": "say", "arguments": {"t": "a \\"quoted\\" 東京 🚀"}}\n</tool_call>'
    result = parse_hermes(text)
    assert result.ok
    assert result.calls[0].arguments["t"] == 'a "quoted" 東京 🚀'


def test_hermes_string_arguments_are_decoded():
    result = parse_hermes('<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}</tool_call>')
    assert result.ok and result.calls[0].arguments == {"a": 1}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("[f(x=os.system('ls'))]", ParseErrorKind.NON_LITERAL),
        ("[f(x=__import__('os'))]", ParseErrorKind.NON_LITERAL),
        ("[f(1, b=2)]", ParseErrorKind.POSITIONAL_ARGS),
        ("[f(**kw)]", ParseErrorKind.NON_LITERAL),
        ("[f(x=1)", ParseErrorKind.SYNTAX_ERROR),
        ("[1, 2]", ParseErrorKind.BAD_STRUCTURE),
        ("", ParseErrorKind.EMPTY),
        ("[(lambda: 1)()]", ParseErrorKind.BAD_STRUCTURE),
    ],
)
def test_python_malformed(text, kind):
    result = parse_python(text)
    assert not result.ok
    assert result.error.kind == kind


def test_python_positional_error_names_function():
    result = parse_python("[get_weather('Paris')]")
    assert "get_weather" in result.error.message and "positional" in result.error.message


@pytest.mark.parametrize(
    "payload",
    ["not a list", [1], [{"function": {"name": "f", "arguments": "{bad"}}]],
)
def test_openai_malformed(payload):
    result = parse_openai(payload)
    assert not result.ok


def call(name, **arguments):
    return ToolCall(name=name, arguments=arguments)


@pytest.mark.parametrize(
    ("pred", "label", "expected"),
    [
        ([call("f", a=1)], [call("f", a=1)], True),
        ([call("f", a=1)], [call("f", a=1.0)], True),
        ([call("f", a={"x": 1, "y": 2})], [call("f", a={"y": 2, "x": 1})], True),
        ([call("f", a=1), call("g", b=2)], [call("g", b=2), call("f", a=1)], True),
        ([call("f", a=[1, 2])], [call("f", a=[2, 1])], False),
        ([call("f", a=1)], [call("f", a=2)], False),
        ([call("f", a=1)], [call("g", a=1)], False),
        ([call("f", a=1)], [call("f", a=1), call("f", a=1)], False),
        ([call("f", a=1), call("f", a=1)], [call("f", a=1), call("f", a=2)], False),
        ([call("f", a=True)], [call("f", a=1)], False),
        ([call("f", a="1")], [call("f", a=1)], False),
        ([call("f", a=1, b=None)], [call("f", a=1)], False),
        ([], [], True),
        ([], [call("f")], False),
    ],
)
def test_tool_match_truth_table(pred, label, expected):
    assert tool_calls_match(pred, label) is expected
