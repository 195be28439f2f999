"""Tool-call codecs: render ``ToolCall``s to text formats and parse them back.

Three formats:

* **Hermes / Qwen3**: ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`` blocks,
  optionally preceded by ``<think>...</think>`` (the training target format);
* **OpenAI** ``tool_calls`` objects (arguments as a JSON string);
* **Python-call syntax** ``[f(a=1, b='x'), g(c=[1, 2])]`` as BFCL and ACEBench prompt modes use.

Parsers never raise on bad model output (any string, any ``tool_calls`` object) and never
``eval``: they return a :class:`ParseResult` whose ``error`` says what was wrong and where.
Only JSON values (``None``, bool, int, float, str, lists, objects with string keys), nested
at most :data:`MAX_ARGUMENT_DEPTH` levels, enter a parsed :class:`ToolCall`.
"""

from __future__ import annotations

import ast
import json
import math
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from looptool.schema import ToolCall

THINK_PATTERN = re.compile(r"^\s*<think>(?P<think>.*?)</think>", re.DOTALL)
TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"


class ParseErrorKind(StrEnum):
    UNCLOSED_TAG = "unclosed_tag"
    INVALID_JSON = "invalid_json"
    BAD_STRUCTURE = "bad_structure"
    TRAILING_TEXT = "trailing_text"
    SYNTAX_ERROR = "syntax_error"
    NON_LITERAL = "non_literal"
    POSITIONAL_ARGS = "positional_args"
    EMPTY = "empty"
    NOT_JSON = "not_json"
    TOO_LARGE = "too_large"


@dataclass(frozen=True)
class ParseError:
    """What went wrong and where (character offset into the parsed text, or -1)."""

    kind: ParseErrorKind
    message: str
    position: int = -1

    def __str__(self) -> str:
        where = f" at offset {self.position}" if self.position >= 0 else ""
        return f"{self.kind.value}{where}: {self.message}"


@dataclass(frozen=True)
class ParseResult:
    """Calls found, text outside the calls, optional reasoning, or an error."""

    calls: list[ToolCall] = field(default_factory=list)
    content: str = ""
    reasoning: str | None = None
    error: ParseError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


MAX_ARGUMENT_DEPTH = 64
"""Deepest nesting of lists/objects inside a call's arguments object; deeper input is
refused with :attr:`ParseErrorKind.TOO_LARGE`."""
MAX_ARGUMENT_VALUES = 1_000_000
"""Most values visited in one arguments object (bounds shared sub-objects passed as Python
objects; parsed text has fewer values than characters)."""


def json_value_problem(value: Any, *, max_depth: int = MAX_ARGUMENT_DEPTH) -> ParseError | None:
    """Why ``value`` is not a JSON value nested at most ``max_depth`` levels, or None.

    Iterative, so a deep or self-referencing value cannot exhaust the stack."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    visited = 0
    while stack:
        item, depth = stack.pop()
        visited += 1
        if visited > MAX_ARGUMENT_VALUES:
            return ParseError(ParseErrorKind.TOO_LARGE, f"arguments hold over {MAX_ARGUMENT_VALUES} values")
        if item is None or isinstance(item, bool | int | float | str):
            continue
        if not isinstance(item, list | dict):
            return ParseError(ParseErrorKind.NOT_JSON, f"{type(item).__name__} values are not JSON")
        if depth >= max_depth:
            return ParseError(ParseErrorKind.TOO_LARGE, f"arguments nest deeper than {max_depth} levels")
        if isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    return ParseError(
                        ParseErrorKind.NOT_JSON, f"an object key is a {type(key).__name__}, not a string"
                    )
            stack.extend((child, depth + 1) for child in item.values())
        else:
            stack.extend((child, depth + 1) for child in item)
    return None


def _failure(kind: ParseErrorKind, message: str, position: int = -1) -> ParseResult:
    return ParseResult(error=ParseError(kind, message, position))


# ---------------------------------------------------------------- Hermes / Qwen3


def render_hermes(calls: list[ToolCall], *, think: str | None = None, content: str = "") -> str:
    """Render calls as Hermes ``<tool_call>`` blocks (optionally after a think block)."""
    parts: list[str] = []
    if think is not None:
        parts.append(f"<think>\n{think}\n</think>\n\n")
    if content:
        parts.append(content + ("\n" if calls else ""))
    blocks = [
        f"{TOOL_CALL_OPEN}\n"
        + json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False)
        + f"\n{TOOL_CALL_CLOSE}"
        for call in calls
    ]
    parts.append("\n".join(blocks))
    return "".join(parts)


def _call_from_json_object(data: Any, position: int) -> ToolCall | ParseError:
    if not isinstance(data, dict):
        return ParseError(ParseErrorKind.BAD_STRUCTURE, "a tool call must be a JSON object", position)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        return ParseError(ParseErrorKind.BAD_STRUCTURE, "tool call has no string 'name'", position)
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):
        loaded = _load_json(arguments) if arguments.strip() else {}
        if isinstance(loaded, ParseError):
            return ParseError(loaded.kind, f"arguments string: {loaded.message}", position)
        arguments = loaded
    if not isinstance(arguments, dict):
        return ParseError(
            ParseErrorKind.BAD_STRUCTURE, f"'arguments' of {name[:60]!r} must be an object", position
        )
    problem = json_value_problem(arguments)
    if problem is not None:
        return ParseError(problem.kind, f"arguments of {name[:60]!r}: {problem.message}", position)
    return ToolCall(name=name, arguments=arguments)


def _load_json(text: str) -> Any:
    """``json.loads`` that returns a :class:`ParseError` (position relative to ``text``)
    instead of raising on bad JSON, over-long integers or deep nesting."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        return ParseError(ParseErrorKind.INVALID_JSON, f"not JSON: {error.msg}", error.pos)
    except ValueError as error:  # an integer over sys.get_int_max_str_digits() digits
        return ParseError(ParseErrorKind.TOO_LARGE, f"too large: {str(error)[:80]}")
    except RecursionError:
        return ParseError(ParseErrorKind.TOO_LARGE, "too deeply nested")


def parse_hermes(text: str, *, allow_trailing_text: bool = False) -> ParseResult:
    """Parse an assistant completion in Hermes format.

    Text before the first block is returned as ``content``; text after the last block is
    an error unless ``allow_trailing_text`` (the strict form feeds the shaped reward's format
    credit; scoring uses :func:`decode_hermes_reply`).
    """
    reasoning: str | None = None
    body = text
    think = THINK_PATTERN.match(text)
    offset = 0
    if think:
        reasoning = think.group("think").strip()
        offset = think.end()
        body = text[offset:]
    elif "<think>" in text and "</think>" not in text:
        return _failure(ParseErrorKind.UNCLOSED_TAG, "<think> is never closed", text.index("<think>"))

    calls: list[ToolCall] = []
    cursor = 0
    content = ""
    first_open = body.find(TOOL_CALL_OPEN)
    if first_open < 0:
        if TOOL_CALL_CLOSE in body:
            position = offset + body.index(TOOL_CALL_CLOSE)
            return _failure(ParseErrorKind.BAD_STRUCTURE, "</tool_call> without <tool_call>", position)
        return ParseResult(calls=[], content=body.strip(), reasoning=reasoning)
    content = body[:first_open].strip()
    cursor = first_open
    while True:
        start = body.find(TOOL_CALL_OPEN, cursor)
        if start < 0:
            break
        between = body[cursor:start].strip()
        if calls and between:
            return _failure(
                ParseErrorKind.TRAILING_TEXT,
                f"text between tool calls: {between[:40]!r}",
                offset + cursor,
            )
        end = body.find(TOOL_CALL_CLOSE, start)
        if end < 0:
            return _failure(ParseErrorKind.UNCLOSED_TAG, "<tool_call> is never closed", offset + start)
        payload = body[start + len(TOOL_CALL_OPEN) : end]
        nested = payload.find(TOOL_CALL_OPEN)
        if nested >= 0:
            return _failure(
                ParseErrorKind.UNCLOSED_TAG,
                "<tool_call> opened again before the previous one closed",
                offset + start + len(TOOL_CALL_OPEN) + nested,
            )
        data = _load_json(payload)
        if isinstance(data, ParseError):
            body_start = offset + start + len(TOOL_CALL_OPEN)
            where = body_start + data.position if data.position >= 0 else body_start
            return _failure(data.kind, f"tool call body is {data.message}", where)
        call = _call_from_json_object(data, offset + start)
        if isinstance(call, ParseError):
            return ParseResult(error=call)
        calls.append(call)
        cursor = end + len(TOOL_CALL_CLOSE)
    trailing = body[cursor:].strip()
    if trailing and not allow_trailing_text:
        return _failure(
            ParseErrorKind.TRAILING_TEXT,
            f"text after the last tool call: {trailing[:40]!r}",
            offset + cursor,
        )
    return ParseResult(calls=calls, content=content, reasoning=reasoning)



def decode_hermes_reply(text: str) -> ParseResult:
    """How every consumer reads a reply to a Hermes-format prompt: the GRPO reward, the probe,
    held-out evaluation and the benchmarks' ``prompt_hermes`` decoder. A leading think block is
    skipped and text after the last tool call is ignored, so one completion scores the same in
    training and in evaluation."""
    return parse_hermes(text, allow_trailing_text=True)


# ---------------------------------------------------------------- OpenAI tool_calls


def render_openai(calls: list[ToolCall]) -> list[dict[str, Any]]:
    """Render calls as OpenAI ``tool_calls`` objects."""
    return [
        {
            "id": call.id or f"call_{index}",
            "type": "function",
            "function": {
                "name": call.name,
                "arguments": json.dumps(call.arguments, ensure_ascii=False),
            },
        }
        for index, call in enumerate(calls)
    ]


def parse_openai(tool_calls: Any) -> ParseResult:
    """Parse OpenAI ``tool_calls`` (list of dicts; arguments a JSON string or an object)."""
    if tool_calls is None:
        return ParseResult()
    if not isinstance(tool_calls, list):
        return _failure(ParseErrorKind.BAD_STRUCTURE, "tool_calls must be a list")
    calls: list[ToolCall] = []
    for index, item in enumerate(tool_calls):
        if not isinstance(item, dict):
            return _failure(ParseErrorKind.BAD_STRUCTURE, f"tool_calls[{index}] is not an object", index)
        function = item.get("function", item)
        call = _call_from_json_object(function, index)
        if isinstance(call, ParseError):
            return ParseResult(
                error=ParseError(call.kind, f"tool_calls[{index}]: {call.message}", index)
            )
        call_id = item.get("id")
        calls.append(call.model_copy(update={"id": call_id if isinstance(call_id, str) else None}))
    return ParseResult(calls=calls)


# ---------------------------------------------------------------- Python-call syntax


def _python_literal(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, list):
        return "[" + ", ".join(_python_literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(
            f"{_python_literal(key)}: {_python_literal(item)}" for key, item in value.items()
        ) + "}"
    return repr(value)


def render_python(calls: list[ToolCall]) -> str:
    """Render calls as ``[f(a=1), g(b='x')]``."""
    rendered = [
        f"{call.name}("
        + ", ".join(f"{key}={_python_literal(value)}" for key, value in call.arguments.items())
        + ")"
        for call in calls
    ]
    return "[" + ", ".join(rendered) + "]"


MAX_PYTHON_SOURCE_CHARS = 200_000
"""Longest Python-call reply :func:`parse_python` reads (``ast`` needs far more memory than text)."""


def _dotted_name(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


class _Refused(Exception):
    """A keyword value that is not a JSON literal (``node`` says where)."""

    def __init__(self, node: ast.expr, kind: ParseErrorKind, reason: str) -> None:
        super().__init__(reason)
        self.node = node
        self.kind = kind


_SPECIAL_FLOATS = ("inf", "-inf", "nan")


def _json_literal(node: ast.expr, depth: int = 1) -> Any:
    """The JSON value a literal stands for: constants (not bytes, complex or ``...``), signed
    numbers, ``float('inf')``-style constants, lists and tuples (as lists), dicts with string
    keys. Anything else (sets, names, calls, operators) is refused."""
    if depth > MAX_ARGUMENT_DEPTH:
        raise _Refused(node, ParseErrorKind.TOO_LARGE, f"nests deeper than {MAX_ARGUMENT_DEPTH} levels")
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None or isinstance(value, bool | int | float | str):
            return value
        raise _Refused(node, ParseErrorKind.NOT_JSON, f"{type(value).__name__} values are not JSON")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = node.operand
        if (
            isinstance(operand, ast.Constant)
            and isinstance(operand.value, int | float)
            and not isinstance(operand.value, bool)
        ):
            return -operand.value if isinstance(node.op, ast.USub) else operand.value
    if (
        isinstance(node, ast.Call)
        and _dotted_name(node.func) == "float"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value in _SPECIAL_FLOATS
        and not node.keywords
    ):
        return float(node.args[0].value)
    if isinstance(node, ast.List | ast.Tuple):
        return [_json_literal(item, depth + 1) for item in node.elts]
    if isinstance(node, ast.Dict):
        result: dict[str, Any] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if not (isinstance(key_node, ast.Constant) and isinstance(key_node.value, str)):
                raise _Refused(key_node or value_node, ParseErrorKind.NOT_JSON, "object keys must be strings")
            result[key_node.value] = _json_literal(value_node, depth + 1)
        return result
    if isinstance(node, ast.Set):
        raise _Refused(node, ParseErrorKind.NOT_JSON, "set values are not JSON")
    raise _Refused(node, ParseErrorKind.NON_LITERAL, "not a literal")


def _python_source(text: str) -> tuple[str, int]:
    """The code inside ``text`` (surrounding space and a Markdown fence removed) and where
    it starts in ``text``."""
    source = text.strip()
    start = len(text) - len(text.lstrip())
    if source.startswith("```"):
        fence = re.match(r"```[a-zA-Z]*\n?", source)
        inner = source[fence.end() if fence else 3 :]
        inner = inner[:-3] if inner.endswith("```") else inner
        start += (len(source) - len(source.lstrip())) + (fence.end() if fence else 3)
        start += len(inner) - len(inner.lstrip())
        source = inner.strip()
    return source, start


def _offset(source: str, lineno: int | None, column: int | None, *, utf8: bool) -> int:
    """Character offset in ``source`` of a 1-based line and 0-based column (``utf8``: the
    column counts UTF-8 bytes, as ``ast`` node offsets do), or -1 when unknown."""
    if not lineno or column is None or column < 0:
        return -1
    line_starts = [0] + [match.end() for match in re.finditer(r"\r\n|\r|\n", source)]
    if lineno > len(line_starts):
        return -1
    line_start = line_starts[lineno - 1]
    if utf8:
        line = source[line_start : line_start + column]  # a UTF-8 column never exceeds this
        column = len(line.encode("utf-8", "surrogatepass")[:column].decode("utf-8", "ignore"))
    return min(line_start + column, len(source))


def parse_python(text: str) -> ParseResult:
    """Parse ``[f(a=1), g(b='x')]`` (brackets optional) with ``ast``; JSON literals only.

    Error positions are character offsets into ``text``."""
    source, base = _python_source(text)
    if not source:
        return _failure(ParseErrorKind.EMPTY, "no function call found")
    if len(source) > MAX_PYTHON_SOURCE_CHARS:
        return _failure(ParseErrorKind.TOO_LARGE, f"reply is longer than {MAX_PYTHON_SOURCE_CHARS} characters")
    if "\x00" in source:
        return _failure(ParseErrorKind.SYNTAX_ERROR, "reply contains a NUL character", base + source.index("\x00"))

    def at(node: ast.expr) -> int:
        where = _offset(source, node.lineno, node.col_offset, utf8=True)
        return base + where if where >= 0 else -1

    try:
        with warnings.catch_warnings():  # invalid escapes in model text are not our warnings
            warnings.simplefilter("ignore")
            tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        where = _offset(source, error.lineno, (error.offset or 1) - 1, utf8=False)
        return _failure(
            ParseErrorKind.SYNTAX_ERROR,
            f"not Python call syntax: {str(error.msg)[:120]}",
            base + where if where >= 0 else -1,
        )
    except UnicodeError:  # a lone surrogate: Python source must be encodable text
        return _failure(ParseErrorKind.SYNTAX_ERROR, "reply is not valid Unicode text")
    except (ValueError, RecursionError, MemoryError) as error:
        return _failure(ParseErrorKind.TOO_LARGE, f"reply is too complex to parse ({type(error).__name__})")
    body = tree.body
    nodes: list[ast.expr] = list(body.elts) if isinstance(body, ast.List | ast.Tuple) else [body]
    calls: list[ToolCall] = []
    for node in nodes:
        if not isinstance(node, ast.Call):
            return _failure(
                ParseErrorKind.BAD_STRUCTURE, f"expected a function call, found {type(node).__name__}", at(node)
            )
        name = _dotted_name(node.func)
        if name is None:
            return _failure(ParseErrorKind.BAD_STRUCTURE, "function name is not a plain name", at(node))
        if node.args:
            return _failure(
                ParseErrorKind.POSITIONAL_ARGS,
                f"{name}() has {len(node.args)} positional argument(s); keyword arguments are required",
                at(node.args[0]),
            )
        arguments: dict[str, Any] = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                return _failure(ParseErrorKind.NON_LITERAL, f"{name}() uses **kwargs", at(keyword.value))
            try:
                arguments[keyword.arg] = _json_literal(keyword.value)
            except _Refused as refused:
                snippet = _segment(source, refused.node)
                return _failure(
                    refused.kind,
                    f"argument {keyword.arg!r} of {name}(): {refused}: {snippet[:60]}",
                    at(refused.node),
                )
        calls.append(ToolCall(name=name, arguments=arguments))
    return ParseResult(calls=calls)


def _segment(source: str, node: ast.expr) -> str:
    try:
        return ast.get_source_segment(source, node) or "?"
    except (ValueError, IndexError):
        return "?"


# ---------------------------------------------------------------- ToolMatch


class _TooDeep(Exception):
    """A value nests deeper than ToolMatch compares (:data:`MAX_ARGUMENT_DEPTH`)."""


def _canonical(value: Any, depth: int = 0) -> Any:
    """A hashable canonical form: numbers by value, dicts key-order free, lists ordered."""
    if depth > MAX_ARGUMENT_DEPTH + 1:
        raise _TooDeep
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return ("nan",)
        return ("num", float(value)) if not isinstance(value, int) or abs(value) < 2**53 else ("int", value)
    if isinstance(value, str):
        return ("str", value)
    if value is None:
        return ("none",)
    if isinstance(value, dict):
        return ("dict", frozenset((str(key), _canonical(item, depth + 1)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return ("list", tuple(_canonical(item, depth + 1) for item in value))
    return ("other", repr(value))


def canonical_call(call: ToolCall) -> Any:
    """The hashable identity of a call used by ToolMatch (name + canonical arguments)."""
    return (call.name, _canonical(call.arguments))


def tool_calls_match(predicted: list[ToolCall], label: list[ToolCall]) -> bool:
    """The paper's ToolMatch: same number of calls, same multiset of (name, arguments).

    Order across calls is free; inside arguments ``1 == 1.0``, dict key order is ignored,
    list order matters and ``True`` is not ``1``. Arguments nested deeper than
    :data:`MAX_ARGUMENT_DEPTH` never match (the parsers refuse them).
    """
    if len(predicted) != len(label):
        return False
    try:
        return Counter(canonical_call(call) for call in predicted) == Counter(
            canonical_call(call) for call in label
        )
    except _TooDeep:
        return False
