"""Turn a model's raw reply into calls, two ways.

* :func:`decode_upstream` reproduces ACEBench's decoder (README §6.1): first balanced
  ``[...]`` (single-turn) or the whole text with every whitespace deleted (multi-turn),
  Python AST, keyword arguments only, bare names become strings, arithmetic is folded, a
  nested call becomes ``{name: {...}}``. It walks the AST itself: nothing is ``eval``ed.
* :func:`decode_strict` uses the kernel codec :func:`looptool.codecs.parse_python` on the
  first string-aware balanced ``[...]`` (or the whole reply), keeping spaces inside strings.

Both return :class:`Decoded`: calls as ``(name, arguments)`` pairs, or an error.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from looptool.codecs import parse_python
from looptool.schema import ToolCall


@dataclass(frozen=True)
class Decoded:
    """Calls decoded from a reply, or why decoding failed (``error`` set, ``calls`` empty)."""

    calls: list[ToolCall] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _DecodeError(ValueError):
    pass


def first_balanced_brackets(text: str, *, string_aware: bool = False) -> str | None:
    """The first balanced ``[...]`` substring (upstream counts brackets inside strings too)."""
    start = text.find("[")
    if start < 0:
        return None
    depth = 0
    quote: str | None = None
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if string_aware and quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if string_aware and char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return text[start : index + 1]
    return None


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    raise _DecodeError(f"unsupported callee {type(node).__name__}")


def _value(node: ast.expr) -> Any:
    """Upstream's value resolution, done on the AST (no ``eval``)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _value(node.operand)
        if not isinstance(operand, int | float) or isinstance(operand, bool):
            raise _DecodeError("unary minus on a non-number")
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.List):
        return [_value(item) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_value(item) for item in node.elts)
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise _DecodeError("dict unpacking is not a literal")
        return {_value(key): _value(value) for key, value in zip(node.keys, node.values, strict=True) if key is not None}
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return _dotted(node)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        numeric = (int, float)
        if not (isinstance(left, numeric) and isinstance(right, numeric)):
            raise _DecodeError("arithmetic on non-numbers")
        if isinstance(node.op, ast.Mult) and max(abs(left), abs(right)) > 1e12:
            raise _DecodeError("arithmetic result too large")
        try:
            return _BINARY[type(node.op)](left, right)
        except ArithmeticError as error:
            raise _DecodeError(str(error)) from None
    if isinstance(node, ast.Call):
        return {_dotted(node.func): {kw.arg: _value(kw.value) for kw in node.keywords if kw.arg}}
    raise _DecodeError(f"unsupported value {type(node).__name__}")


def _decode_list_source(source: str) -> Decoded:
    if len(source) > 100_000:
        return Decoded(error="wrong_output_format: reply too long")
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        return Decoded(error=f"wrong_output_format: {type(error).__name__}")
    if not isinstance(tree.body, ast.List):
        return Decoded(error="wrong_output_format: not a list of calls")
    calls: list[ToolCall] = []
    try:
        for element in tree.body.elts:
            if not isinstance(element, ast.Call):
                return Decoded(error="wrong_output_format: list element is not a call")
            arguments = {kw.arg: _value(kw.value) for kw in element.keywords if kw.arg}
            calls.append(ToolCall(name=_dotted(element.func), arguments=arguments))
    except (_DecodeError, RecursionError, TypeError) as error:
        return Decoded(error=f"wrong_output_format: {error}")
    return Decoded(calls=calls)


def decode_upstream(text: str, *, multi_turn: bool) -> Decoded:
    """ACEBench's decoder, defects included (whitespace deletion for multi-turn)."""
    if multi_turn:
        return _decode_list_source("".join(text.split()))
    source = first_balanced_brackets(text)
    if source is None:
        return Decoded(error="wrong_output_format: no [...] in the reply")
    return _decode_list_source(source)


def decode_strict(text: str) -> Decoded:
    """Python-call syntax via :func:`looptool.codecs.parse_python`, spaces kept."""
    candidates = []
    bracketed = first_balanced_brackets(text, string_aware=True)
    if bracketed is not None:
        candidates.append(bracketed)
    candidates.append(text)
    error = "no function call found"
    for candidate in candidates:
        result = parse_python(candidate)
        if result.ok and result.calls:
            return Decoded(calls=list(result.calls))
        if result.error is not None:
            error = str(result.error)
    return Decoded(error=error)
