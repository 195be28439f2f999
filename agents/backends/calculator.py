"""The ``calculator`` backend: arithmetic expressions and unit conversion.

Expressions are parsed with :mod:`ast` and evaluated by walking a whitelist of node types
(numbers, + - * / // % **, unary signs, a few math functions and constants). Nothing is ever
``eval``ed; names, attributes, subscripts, strings and everything else are refused with a
:class:`ToolError`. Exponents and result sizes are bounded so ``9**9**9`` cannot hang a worker.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel

from looptool.agents.backends.base import ToolBackend, ToolError
from looptool.agents.backends.registry import register_backend

MAX_EXPRESSION_CHARS = 500
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 1e300
MAX_ROUND_DIGITS = 300
"""Largest ``ndigits`` of ``round`` (``round(5, -10**300)`` would build a 10**300-digit power)."""

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "floor": math.floor,
    "ceil": math.ceil,
    "factorial": math.factorial,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}

UnitCategory = Literal["length", "mass", "volume", "time", "speed", "area", "data", "temperature"]

# factor to the category's base unit
_UNITS: dict[str, dict[str, float]] = {
    "length": {"mm": 0.001, "cm": 0.01, "m": 1.0, "km": 1000.0, "in": 0.0254, "ft": 0.3048,
               "yd": 0.9144, "mi": 1609.344, "nmi": 1852.0},
    "mass": {"mg": 1e-6, "g": 0.001, "kg": 1.0, "t": 1000.0, "oz": 0.028349523125,
             "lb": 0.45359237, "st": 6.35029318},
    "volume": {"ml": 0.001, "cl": 0.01, "l": 1.0, "m3": 1000.0, "tsp": 0.00492892159375,
               "tbsp": 0.01478676478125, "cup": 0.2365882365, "pt": 0.473176473,
               "qt": 0.946352946, "gal": 3.785411784},
    "time": {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "day": 86400.0,
             "week": 604800.0, "year": 31557600.0},
    "speed": {"m/s": 1.0, "km/h": 1 / 3.6, "mph": 0.44704, "kn": 1852 / 3600, "ft/s": 0.3048},
    "area": {"mm2": 1e-6, "cm2": 1e-4, "m2": 1.0, "ha": 1e4, "km2": 1e6, "in2": 0.00064516,
             "ft2": 0.09290304, "acre": 4046.8564224, "mi2": 2589988.110336},
    "data": {"b": 0.125, "B": 1.0, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
             "KiB": 1024.0, "MiB": 1024.0**2, "GiB": 1024.0**3, "TiB": 1024.0**4},
    "temperature": {"C": 1.0, "F": 1.0, "K": 1.0},
}
_ALIASES: dict[str, str] = {
    "meter": "m", "meters": "m", "metre": "m", "kilometer": "km", "kilometers": "km",
    "centimeter": "cm", "millimeter": "mm", "inch": "in", "inches": "in", "foot": "ft",
    "feet": "ft", "yard": "yd", "mile": "mi", "miles": "mi", "gram": "g", "grams": "g",
    "kilogram": "kg", "kilograms": "kg", "pound": "lb", "pounds": "lb", "lbs": "lb",
    "ounce": "oz", "ounces": "oz", "liter": "l", "litre": "l", "liters": "l",
    "milliliter": "ml", "gallon": "gal", "gallons": "gal", "second": "s", "seconds": "s",
    "minute": "min", "minutes": "min", "hour": "h", "hours": "h", "days": "day",
    "weeks": "week", "years": "year", "celsius": "C", "fahrenheit": "F", "kelvin": "K",
    "°c": "C", "°f": "F", "kph": "km/h", "knots": "kn",
}


class CalculationResult(BaseModel):
    expression: str
    result: float | int


class ConversionResult(BaseModel):
    value: float
    from_unit: str
    to_unit: str
    result: float
    category: str


class HistoryEntry(BaseModel):
    kind: Literal["calculation", "conversion"]
    query: str
    result: float | int


def _check_magnitude(value: Number) -> Number:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise ToolError("the result is not a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise ToolError("the result is too large")
    return value


class _Evaluator:
    """Evaluates a parsed expression over the whitelisted node types only."""

    def evaluate(self, node: ast.AST) -> Number:
        if isinstance(node, ast.Expression):
            return self.evaluate(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise ToolError(f"unsupported literal {node.value!r}: only numbers are allowed")
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left = self.evaluate(node.left)
            right = self.evaluate(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
                raise ToolError(f"exponent {right} is too large (limit {MAX_EXPONENT})")
            try:
                value = _BINARY[type(node.op)](left, right)
            except ZeroDivisionError:
                raise ToolError("division by zero") from None
            except (OverflowError, ValueError) as error:
                raise ToolError(f"cannot compute: {error}") from None
            if isinstance(value, complex):
                raise ToolError("the result is a complex number")
            return _check_magnitude(value)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.evaluate(node.operand))
        if isinstance(node, ast.Name):
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            raise ToolError(f"unknown name {node.id!r} (constants: {', '.join(_CONSTANTS)})")
        if isinstance(node, ast.Call):
            return self._call(node)
        raise ToolError(f"unsupported syntax: {type(node).__name__}")

    def _call(self, node: ast.Call) -> Number:
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            shown = ast.unparse(node.func)
            raise ToolError(f"unknown function {shown!r} (functions: {', '.join(_FUNCTIONS)})")
        if node.keywords:
            raise ToolError("functions take positional arguments only")
        args = [self.evaluate(arg) for arg in node.args]
        if node.func.id == "factorial" and (not args or abs(args[0]) > 170):
            raise ToolError("factorial takes one argument of at most 170")
        if node.func.id == "round" and len(args) > 1 and abs(args[1]) > MAX_ROUND_DIGITS:
            raise ToolError(f"round: ndigits must be between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}")
        try:
            value = _FUNCTIONS[node.func.id](*args)
        except (ValueError, TypeError, OverflowError) as error:
            raise ToolError(f"{node.func.id}: {error}") from None
        return _check_magnitude(value)


def evaluate_expression(expression: str) -> Number:
    """Safely evaluate an arithmetic expression (``ast`` whitelist, never ``eval``)."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"expression is longer than {MAX_EXPRESSION_CHARS} characters")
    text = expression.strip().replace("^", "**").replace("×", "*").replace("÷", "/")
    if not text:
        raise ToolError("expression is empty")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise ToolError(f"cannot parse expression: {error.msg}") from None
    except (ValueError, MemoryError, RecursionError) as error:  # NUL, lone surrogate, deep nesting
        raise ToolError(f"cannot parse expression: {type(error).__name__}") from None
    return _Evaluator().evaluate(tree)


def _resolve_unit(unit: str) -> tuple[str, str]:
    """(category, canonical unit) of a unit name or alias."""
    raw = unit.strip()
    canonical = _ALIASES.get(raw.lower(), raw)
    for category, units in _UNITS.items():
        if canonical in units:
            return category, canonical
        lowered = {name.lower(): name for name in units}
        if canonical.lower() in lowered and category not in ("data",):
            return category, lowered[canonical.lower()]
    raise ToolError(f"unknown unit {unit!r}; call list_units to see the supported units")


def _to_kelvin(value: float, unit: str) -> float:
    return {"C": value + 273.15, "F": (value - 32) * 5 / 9 + 273.15, "K": value}[unit]


def _from_kelvin(value: float, unit: str) -> float:
    return {"C": value - 273.15, "F": (value - 273.15) * 9 / 5 + 32, "K": value}[unit]


@register_backend("calculator")
class Calculator(ToolBackend):
    """Arithmetic and unit conversion with a history of results."""

    def __init__(self) -> None:
        self.history: list[HistoryEntry] = []

    def load_scenario(self, scenario: dict[str, object]) -> None:
        """Accepts ``{"history": [{"kind": ..., "query": ..., "result": ...}, ...]}``."""
        super().load_scenario(scenario)
        self.history = [HistoryEntry.model_validate(item) for item in self.history]

    def calculate(self, expression: str, precision: int = 10) -> CalculationResult:
        """Evaluate an arithmetic expression such as "(3 + 4) * 2 ^ 3" or "sqrt(2) * pi".

        Args:
            expression: The expression; supports + - * / // % ** (or ^), parentheses, the
                functions abs, round, min, max, sqrt, exp, log, log10, log2, sin, cos, tan,
                asin, acos, atan, floor, ceil, factorial and the constants pi, e, tau.
            precision: Number of decimal places to round a fractional result to.

        Returns:
            The expression and its value.
        """
        if not 0 <= precision <= 15:
            raise ToolError("precision must be between 0 and 15")
        value = evaluate_expression(expression)
        if isinstance(value, float):
            value = round(value, precision)
        self.history.append(HistoryEntry(kind="calculation", query=expression, result=value))
        return CalculationResult(expression=expression, result=value)

    def convert_units(self, value: float, from_unit: str, to_unit: str) -> ConversionResult:
        """Convert a quantity from one unit to another of the same kind.

        Args:
            value: The quantity to convert.
            from_unit: The unit of the value, e.g. "km", "lb", "F", "GiB".
            to_unit: The unit to convert to, of the same category.

        Returns:
            The converted value with its units and category.
        """
        _check_magnitude(value)
        from_category, source = _resolve_unit(from_unit)
        to_category, target = _resolve_unit(to_unit)
        if from_category != to_category:
            raise ToolError(
                f"cannot convert {from_category} ({source}) to {to_category} ({target})"
            )
        if from_category == "temperature":
            kelvin = _to_kelvin(value, source)
            if kelvin < 0:
                raise ToolError("temperature below absolute zero")
            result = _from_kelvin(kelvin, target)
        else:
            units = _UNITS[from_category]
            result = value * units[source] / units[target]
        result = round(_check_magnitude(result), 10)
        self.history.append(
            HistoryEntry(kind="conversion", query=f"{value} {source} -> {target}", result=result)
        )
        return ConversionResult(value=value, from_unit=source, to_unit=target, result=result,
                                category=from_category)

    def list_units(self, category: UnitCategory | None = None) -> dict[str, list[str]]:
        """List the supported units, by category.

        Args:
            category: Only this category; all categories when omitted.
        """
        if category is not None:
            return {category: list(_UNITS[category])}
        return {name: list(units) for name, units in _UNITS.items()}

    def get_history(self, limit: int = 10) -> list[HistoryEntry]:
        """Return the most recent calculations and conversions, newest last.

        Args:
            limit: How many entries to return (1-100).
        """
        if not 1 <= limit <= 100:
            raise ToolError("limit must be between 1 and 100")
        return self.history[-limit:]
