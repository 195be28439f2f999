"""Tool-call codecs: render ``ToolCall``s to text formats and parse them back.

Three formats:

* **Hermes / Qwen3**: ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`` blocks,
  optionally preceded by ``<think>...</think>`` (the training target format);
* **OpenAI** ``tool_calls`` objects (arguments as a JSON string);
* **Python-call syntax** ``[f(a=1, b='x'), g(c=[1, 2])]`` as BFCL and ACEBench prompt modes use.

Parsers never raise on bad model output and never ``eval``: they return a
:class:`ParseResult` whose ``error`` says what was wrong and where.
"""

from __future__ import annotations

import ast
import json
import math
import re
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
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as error:
            return ParseError(
                ParseErrorKind.INVALID_JSON, f"arguments string is not JSON: {error.msg}", position
            )
    if not isinstance(arguments, dict):
        return ParseError(
            ParseErrorKind.BAD_STRUCTURE, f"'arguments' of {name!r} must be an object", position
        )
    return ToolCall(name=name, arguments=arguments)


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
        try:
            data = json.loads(payload)
        except json.JSONDecodeError as error:
            return _failure(
                ParseErrorKind.INVALID_JSON,
                f"tool call body is not JSON: {error.msg}",
                offset + start + len(TOOL_CALL_OPEN) + error.pos,
            )
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
        calls.append(call.model_copy(update={"id": item.get("id")}))
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


def _dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted_name(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _literal(node: ast.expr) -> Any:
    """``ast.literal_eval`` plus negative numbers and ``float('inf')``-style constants."""
    if (
        isinstance(node, ast.Call)
        and _dotted_name(node.func) == "float"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value in ("inf", "-inf", "nan")
        and not node.keywords
    ):
        return float(node.args[0].value)
    return ast.literal_eval(node)


def parse_python(text: str) -> ParseResult:
    """Parse ``[f(a=1), g(b='x')]`` (brackets optional) with ``ast``; literals only."""
    source = text.strip()
    if source.startswith("```"):
        source = re.sub(r"^```[a-zA-Z]*\n?|```$", "", source).strip()
    if not source:
        return _failure(ParseErrorKind.EMPTY, "no function call found")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        position = (error.offset or 1) - 1 if error.lineno == 1 else -1
        return _failure(ParseErrorKind.SYNTAX_ERROR, f"not Python call syntax: {error.msg}", position)
    body = tree.body
    nodes: list[ast.expr] = list(body.elts) if isinstance(body, ast.List | ast.Tuple) else [body]
    calls: list[ToolCall] = []
    for node in nodes:
        if not isinstance(node, ast.Call):
            return _failure(
                ParseErrorKind.BAD_STRUCTURE,
                f"expected a function call, found {type(node).__name__}",
                node.col_offset,
            )
        name = _dotted_name(node.func)
        if name is None:
            return _failure(ParseErrorKind.BAD_STRUCTURE, "function name is not a plain name", node.col_offset)
        if node.args:
            return _failure(
                ParseErrorKind.POSITIONAL_ARGS,
                f"{name}() has {len(node.args)} positional argument(s); keyword arguments are required",
                node.args[0].col_offset,
            )
        arguments: dict[str, Any] = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                return _failure(
                    ParseErrorKind.NON_LITERAL, f"{name}() uses **kwargs", keyword.value.col_offset
                )
            try:
                arguments[keyword.arg] = _literal(keyword.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                snippet = ast.get_source_segment(source, keyword.value) or "?"
                return _failure(
                    ParseErrorKind.NON_LITERAL,
                    f"argument {keyword.arg!r} of {name}() is not a literal: {snippet[:60]}",
                    keyword.value.col_offset,
                )
        calls.append(ToolCall(name=name, arguments=arguments))
    return ParseResult(calls=calls)


# ---------------------------------------------------------------- ToolMatch


def _canonical(value: Any) -> Any:
    """A hashable canonical form: numbers by value, dicts key-order free, lists ordered."""
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
        return ("dict", frozenset((str(key), _canonical(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return ("list", tuple(_canonical(item) for item in value))
    return ("other", repr(value))


def canonical_call(call: ToolCall) -> Any:
    """The hashable identity of a call used by ToolMatch (name + canonical arguments)."""
    return (call.name, _canonical(call.arguments))


def tool_calls_match(predicted: list[ToolCall], label: list[ToolCall]) -> bool:
    """The paper's ToolMatch: same number of calls, same multiset of (name, arguments).

    Order across calls is free; inside arguments ``1 == 1.0``, dict key order is ignored,
    list order matters and ``True`` is not ``1``.
    """
    if len(predicted) != len(label):
        return False
    return Counter(canonical_call(call) for call in predicted) == Counter(
        canonical_call(call) for call in label
    )
