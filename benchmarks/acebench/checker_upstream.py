"""ACEBench's normal-category checker, reproduced rule for rule (README §6.2), defects included:
string values match by normalised substring, top-level numbers and booleans are type-checked
only, an answer value whose type differs from the schema type is not compared, empty list or
dict answers never pass, an ``array`` without ``items`` is an array of objects, answer names
lose a ``_<digits>`` suffix, and an answer call is satisfied by any output call of its name.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from looptool.schema import ToolCall

SUFFIX = re.compile(r"_\d+$")
_STRIP_CHARS = re.compile(r"[ ,./\-_*^]")

TYPE_MAP: dict[str, type] = {
    "string": str,
    "integer": int,
    "number": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "list": list,
    "tuple": list,
    "object": dict,
    "dict": dict,
    "any": str,
    "list(string)": list,
    "list(enum)": list,
    "objectArray": list,
}


@dataclass(frozen=True)
class Verdict:
    """Pass/fail with the upstream error kind (``""`` when it passed)."""

    ok: bool
    error: str = ""

    @classmethod
    def passed(cls) -> Verdict:
        return cls(True)

    @classmethod
    def failed(cls, error: str) -> Verdict:
        return cls(False, error)


def normalize(text: str) -> str:
    """Upstream string normalisation: drop `` ,./-_*^``, lower-case, ``'`` -> ``"``."""
    return _STRIP_CHARS.sub("", text).lower().replace("'", '"')


def strip_suffix(name: str) -> str:
    return SUFFIX.sub("", name)


def _norm_scalar(value: Any) -> Any:
    return normalize(value) if isinstance(value, str) else value


def _dict_check(output: Any, answer: dict[str, Any]) -> bool:
    if not isinstance(output, dict) or len(output) != len(answer):
        return False
    for key, out_value in output.items():
        if key not in answer:
            return False
        ans_value = answer[key]
        if isinstance(ans_value, dict):
            if not _dict_check(out_value, ans_value):
                return False
            continue
        if str(_norm_scalar(ans_value)) not in str(_norm_scalar(out_value)):
            return False
    return True


def _schema_type(prop: dict[str, Any]) -> str:
    kind = prop.get("type", "string")
    return kind if isinstance(kind, str) else "string"


def _items_are_objects(prop: dict[str, Any]) -> bool:
    items = prop.get("items")
    if not isinstance(items, dict):
        return True  # upstream treats an array without ``items`` as an array of objects
    return _schema_type(items) in ("object", "dict")


def _check_argument(prop: dict[str, Any], value: Any, answer: Any) -> Verdict:
    kind = _schema_type(prop)
    expected = TYPE_MAP.get(kind, str)
    if expected is bool and isinstance(value, str) and value in ("true", "false"):
        value = value == "true"
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    type_ok = isinstance(value, expected) or type(value) is type(answer) or value == answer
    if not type_ok:
        return Verdict.failed("type_error")
    if isinstance(answer, list | dict) and not answer:
        return Verdict.failed("type_error")  # nested type check over an empty answer
    if (
        expected is list
        and isinstance(value, list)
        and _items_are_objects(prop)
        and any(not isinstance(item, dict) for item in value)
    ):
        return Verdict.failed("type_error")
    variable = type(answer) is not expected and not (expected is float and type(answer) is int)
    if variable or expected in (int, float, bool):
        return Verdict.passed()
    if expected is str:
        return Verdict.passed() if normalize(answer) in normalize(str(value)) else Verdict.failed("value_error")
    if expected is list:
        if _items_are_objects(prop):
            if len(value) != len(answer):
                return Verdict.failed("value_error")
            for out_item, ans_item in zip(value, answer, strict=True):
                if not isinstance(ans_item, dict) or not _dict_check(out_item, ans_item):
                    return Verdict.failed("value_error")
            return Verdict.passed()
        same = [_norm_scalar(item) for item in value] == [_norm_scalar(item) for item in answer]
        return Verdict.passed() if same else Verdict.failed("value_error")
    if expected is dict:
        return Verdict.passed() if _dict_check(value, answer) else Verdict.failed("value_error")
    return Verdict.passed()


def function_check(schema: dict[str, Any], output: dict[str, Any], answer: dict[str, Any]) -> Verdict:
    """Upstream ``simple_function_checker`` for one output call against one answer call."""
    parameters = schema.get("parameters", {})
    if not isinstance(parameters, dict):
        parameters = {}
    properties = parameters.get("properties", {}) or {}
    if not output and parameters != {}:
        return Verdict.failed("no_arguments")
    for required in parameters.get("required", []) or []:
        if required not in output:
            return Verdict.failed(f"lack_args:{required}")
    for key in output:
        if key not in properties or key not in answer:
            return Verdict.failed(f"addition_args:{key}")
    for key, value in output.items():
        prop = properties[key] if isinstance(properties[key], dict) else {}
        verdict = _check_argument(prop, value, answer[key])
        if not verdict.ok:
            return Verdict.failed(f"{verdict.error}:{key}")
    return Verdict.passed()


def _find_schema(functions: list[dict[str, Any]], answer_name: str) -> dict[str, Any] | None:
    for function in functions:
        name = function.get("name")
        if isinstance(name, str) and name in answer_name:
            return function
    return None


def check_alternative(functions: list[dict[str, Any]], calls: list[ToolCall], answer: dict[str, Any]) -> Verdict:
    """One answer alternative (``{name[_N]: {arg: value}}``) against the decoded calls."""
    if len(calls) != len(answer):
        return Verdict.failed("wrong_count")
    if Counter(call.name for call in calls) != Counter(strip_suffix(key) for key in answer):
        return Verdict.failed("function_mismatch")
    for key, answer_args in answer.items():
        # The lookup by the de-suffixed name reproduces upstream's gold figures: functions
        # really named ``x_2`` (zh similar_api) find no schema, so they can never pass.
        schema = _find_schema(functions, strip_suffix(key))
        if schema is None or not isinstance(answer_args, dict):
            return Verdict.failed(f"no_schema:{key}")
        name = strip_suffix(key)
        verdicts = [function_check(schema, call.arguments, answer_args) for call in calls if call.name == name]
        if not any(verdict.ok for verdict in verdicts):
            return verdicts[0] if verdicts else Verdict.failed("function_mismatch")
    return Verdict.passed()


def alternatives(ground_truth: Any) -> list[dict[str, Any]]:
    """A possible answer as a list of alternatives."""
    if isinstance(ground_truth, list):
        return [item for item in ground_truth if isinstance(item, dict)]
    return [ground_truth] if isinstance(ground_truth, dict) else []


def check_normal(functions: list[dict[str, Any]], calls: list[ToolCall], ground_truth: Any) -> Verdict:
    """The item passes when any alternative passes; the first alternative's error otherwise."""
    first: Verdict | None = None
    for answer in alternatives(ground_truth):
        verdict = check_alternative(functions, calls, answer)
        if verdict.ok:
            return verdict
        first = first or verdict
    return first or Verdict.failed("no_answer")
