"""Special categories (README §6.4): the raw reply must contain prescribed sentences.

Case-sensitive substring tests, identical in ``upstream`` and ``strict`` modes:

* incomplete: ``Missing necessary parameters``, the API name and every missing parameter;
* error_param: ``There is incorrect value`` and every listed wrong value;
* irrelevant: ``the limitations of the function``.
"""

from __future__ import annotations

from typing import Any

from looptool.benchmarks.acebench.checker_upstream import Verdict

INCOMPLETE_MARK = "Missing necessary parameters"
ERROR_MARK = "There is incorrect value"
IRRELEVANT_MARK = "the limitations of the function"


def check_special(stem: str, text: str, ground_truth: Any) -> Verdict:
    if stem == "special_irrelevant":
        return Verdict.passed() if IRRELEVANT_MARK in text else Verdict.failed("not_refused")
    if not isinstance(ground_truth, dict):
        return Verdict.failed("bad_answer")
    if stem == "special_incomplete":
        if INCOMPLETE_MARK not in text:
            return Verdict.failed("no_missing_parameters_sentence")
        for api_name, missing in ground_truth.items():
            if api_name not in text:
                return Verdict.failed(f"api_name_missing:{api_name}")
            for parameter in missing:
                if str(parameter) not in text:
                    return Verdict.failed(f"parameter_missing:{parameter}")
        return Verdict.passed()
    if stem == "special_error_param":
        if ERROR_MARK not in text:
            return Verdict.failed("no_incorrect_value_sentence")
        for values in ground_truth.values():
            for value in values:
                if str(value) not in text:
                    return Verdict.failed(f"value_missing:{value}")
        return Verdict.passed()
    raise ValueError(f"not a special category: {stem!r}")


def gold_special_text(stem: str, ground_truth: Any) -> str:
    """The prescribed sentence that answers a special record correctly."""
    if stem == "special_irrelevant":
        return '["Due to the limitations of the function, I cannot solve this problem."]'
    if stem == "special_incomplete":
        parts = [
            f'Missing necessary parameters ({", ".join(map(str, missing))}) for the api ({api})'
            for api, missing in ground_truth.items()
        ]
        return "[" + ", ".join(f'"{part}"' for part in parts) + "]"
    if stem == "special_error_param":
        parts = [
            f"There is incorrect value ({', '.join(map(str, values))}) for the parameters ({key}) in the conversation history."
            for key, values in ground_truth.items()
        ]
        return "[" + ", ".join(f'"{part}"' for part in parts) + "]"
    raise ValueError(f"not a special category: {stem!r}")
