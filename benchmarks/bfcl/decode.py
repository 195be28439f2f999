"""Decoding a ``prompt_python`` reply the way BFCL's prompt handlers do, without ``eval``.

BFCL (``bfcl-eval==2025.8.6.2``) decodes a prompting model's text in two steps:

1. the Qwen handler (``QwenHandler._parse_query_response_prompting``) keeps only what follows
   the last ``</think>`` (left-stripped of newlines): :func:`strip_think`;
2. ``default_decode_ast_prompting`` strips backticks, newlines and spaces at both ends, adds
   missing ``[``/``]``, then ``ast_parse``: for Python ``strip("[]'")`` and ``ast.parse``; a
   call or a list/tuple/set of calls; keyword arguments only (positional ones are dropped);
   values by ``resolve_ast_by_type``: :func:`decode_python`. Java and JavaScript are parsed by
   BFCL's tree-sitter parsers inside the BFCL worker (``decode`` command), never here.

``resolve_ast_by_type`` ``eval``s arithmetic (``ast.BinOp``); here the same arithmetic is
computed on numeric and string constants only (:func:`_arithmetic`), with bounded powers and
repetitions. Everything else follows BFCL, quirks included: a bare name is its identifier
(``unit=celsius`` -> ``"celsius"``, ``true`` -> ``"true"``), a unary operator on a constant
negates it (``+5`` -> ``-5``), a call without keyword arguments is its source text, a call
with keyword arguments a nested ``{name: {...}}``, a subscript its source text, ``...`` the
string ``"..."``. Values JSON cannot hold (complex numbers, bytes) are decode errors here.
A ``**kwargs`` argument (BFCL keeps it under the key ``None``) is stored under
:data:`UNNAMED_KEY`, a name no function parameter has, so the checker rejects it as BFCL does.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

UNNAMED_KEY = "*unnamed*"
"""Where BFCL's ``None`` argument key (``**kwargs`` in Python, positional Java/JS arguments) is kept."""

MAX_POWER = 1024
MAX_REPEAT = 100_000
MAX_DIGITS = 4300
"""Largest power result computed (Python's own int-to-text limit): nested powers such as
``((9**1024)**1024)**1024`` stay within ``MAX_POWER`` each and would still never finish."""


class DecodeError(ValueError):
    """The text is not a call list BFCL's decoder accepts."""


@dataclass(frozen=True)
class PromptDecode:
    """Calls decoded from a prompt-mode reply: ``[{name: {argument: value}}]`` as BFCL holds
    them, the text after the think block, the reasoning, and the error when decoding failed."""

    calls: list[dict[str, dict[str, Any]]] = field(default_factory=list)
    text: str = ""
    reasoning: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def strip_think(text: str) -> tuple[str, str]:
    """``(answer, reasoning)`` as BFCL's Qwen prompt handler splits them: the text after the
    last ``</think>`` (newlines stripped on the left) and what was inside the think block."""
    if "</think>" not in text:
        return text, ""
    parts = text.split("</think>")
    reasoning = parts[0].rstrip("\n").split("<think>")[-1].lstrip("\n")
    return parts[-1].lstrip("\n"), reasoning


def bracketed(text: str) -> str:
    """``default_decode_ast_prompting``'s framing: strip `` `\\n `` at both ends, add ``[``/``]``."""
    result = text.strip("`\n ")
    if not result.startswith("["):
        result = "[" + result
    if not result.endswith("]"):
        result = result + "]"
    return result


def decode_prompt_reply(text: str, language: str = "Python") -> PromptDecode:
    """Think-strip and decode ``text`` (``language`` must be Python here; Java and JavaScript
    are decoded by the BFCL worker). Never raises for model garbage."""
    answer, reasoning = strip_think(text)
    if language != "Python":
        raise ValueError(f"{language} replies are decoded by BFCL's own parser in the BFCL worker")
    try:
        calls = decode_python(bracketed(answer))
    except (DecodeError, SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError, RecursionError,
            MemoryError) as error:
        return PromptDecode(text=answer, reasoning=reasoning, error=f"{type(error).__name__}: {error}")
    return PromptDecode(calls=calls, text=answer, reasoning=reasoning)


def decode_python(source: str) -> list[dict[str, dict[str, Any]]]:
    """BFCL's ``ast_parse(source, "Python")`` without ``eval`` (see the module docstring)."""
    parsed = ast.parse(source.strip("[]'"), mode="eval")
    body = parsed.body
    if isinstance(body, ast.Call):
        return [_call(body)]
    if not isinstance(body, ast.List | ast.Tuple | ast.Set):
        raise DecodeError(f"expected function calls, found {type(body).__name__}")
    calls = []
    for element in body.elts:
        if not isinstance(element, ast.Call):
            raise DecodeError(f"expected a function call, found {type(element).__name__}")
        calls.append(_call(element))
    return calls


def _call(node: ast.Call) -> dict[str, dict[str, Any]]:
    """``resolve_ast_call``: dotted name, keyword arguments only."""
    parts: list[str] = []
    func: ast.expr = node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    arguments: dict[str, Any] = {}
    for keyword in node.keywords:
        arguments[keyword.arg if keyword.arg is not None else UNNAMED_KEY] = _value(keyword.value)
    return {".".join(reversed(parts)): arguments}


def _value(node: ast.expr) -> Any:
    """``resolve_ast_by_type``, with arithmetic computed instead of ``eval``ed."""
    if isinstance(node, ast.Constant):
        return _constant(node.value)
    if isinstance(node, ast.UnaryOp):  # BFCL: -operand.value, whatever the operator
        if not isinstance(node.operand, ast.Constant):
            raise DecodeError(f"unsupported operand of a unary operator: {type(node.operand).__name__}")
        return -_constant(node.operand.value)
    if isinstance(node, ast.List):
        return [_value(item) for item in node.elts]
    if isinstance(node, ast.Dict):
        result: dict[Any, Any] = {}
        for key, item in zip(node.keys, node.values, strict=True):
            if key is None:
                raise DecodeError("'**' inside a dict literal")
            result[_json_key(_value(key))] = _value(item)
        return result
    if isinstance(node, ast.BinOp):
        return _arithmetic(node)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        return ast.unparse(node) if not node.keywords else _call(node)
    if isinstance(node, ast.Tuple):
        return [_value(item) for item in node.elts]
    if isinstance(node, ast.Subscript):
        return ast.unparse(node.value) + "[" + ast.unparse(node.slice) + "]"
    raise DecodeError(f"Unsupported AST type: {type(node)}")


def _constant(value: Any) -> Any:
    if value is Ellipsis:
        return "..."
    if isinstance(value, complex | bytes):
        raise DecodeError(f"{type(value).__name__} literal cannot be stored as JSON")
    return value


def _json_key(key: Any) -> str:
    """JSON object keys are strings (BFCL keeps Python keys; the checker compares values only)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, int | float):
        return str(key)
    raise DecodeError(f"unsupported dict key {key!r}")


_OPERATORS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def _operand(node: ast.expr) -> Any:
    if isinstance(node, ast.BinOp):
        return _arithmetic(node)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _operand(node.operand)
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        items = [_operand(item) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    raise DecodeError(f"arithmetic on {ast.unparse(node)!r}: only number and string constants are computed")


def _power_digits(base: Any, exponent: Any) -> float:
    """About how many decimal digits ``base ** exponent`` has (0 when it cannot grow)."""
    if not isinstance(base, int | float) or not isinstance(exponent, int | float) or exponent <= 0:
        return 0.0
    magnitude = abs(base)
    if magnitude <= 1:
        return 0.0
    digits = magnitude.bit_length() * math.log10(2) if isinstance(magnitude, int) else math.log10(magnitude)
    return digits * exponent


def _arithmetic(node: ast.BinOp) -> Any:
    """The value BFCL's ``eval(ast.unparse(node))`` gives, for constant operands only."""
    function = _OPERATORS.get(type(node.op))
    if function is None:
        raise DecodeError(f"unsupported operator {type(node.op).__name__}")
    left, right = _operand(node.left), _operand(node.right)
    if isinstance(node.op, ast.Pow) and isinstance(right, int | float) and abs(right) > MAX_POWER:
        raise DecodeError(f"power {right} is too large to compute")
    if isinstance(node.op, ast.Pow) and _power_digits(left, right) > MAX_DIGITS:
        raise DecodeError(f"power result would have over {MAX_DIGITS} digits")
    if isinstance(node.op, ast.Mult) and (isinstance(left, str | list | tuple) or isinstance(right, str | list | tuple)):
        count = right if isinstance(left, str | list | tuple) else left
        if isinstance(count, int) and count > MAX_REPEAT:
            raise DecodeError(f"string repetition {count} is too large")
    result = function(left, right)
    return list(result) if isinstance(result, tuple) else result
