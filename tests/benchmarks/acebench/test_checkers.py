"""Normal/special checkers in both modes: wrong answers fail, garbage never crashes, and the
documented upstream defects are present in ``upstream`` and fixed in ``strict``."""

from __future__ import annotations

from typing import Any

import pytest

from looptool.benchmarks.acebench.checker_strict import check_normal_strict, values_equal
from looptool.benchmarks.acebench.checker_upstream import check_normal, normalize
from looptool.benchmarks.acebench.decode import (
    decode_strict,
    decode_upstream,
    first_balanced_brackets,
)
from looptool.benchmarks.acebench.special import check_special

FUNCTIONS: list[dict[str, Any]] = [
    {
        "name": "MealPlanner_generate",
        "description": "Plan meals.",
        "parameters": {
            "type": "object",
            "properties": {
                "meal_type": {"type": "string"},
                "vegetarian": {"type": "boolean"},
                "servings": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "options": {"type": "object", "properties": {"tests": {"type": "array"}}},
            },
            "required": ["meal_type"],
        },
    },
    {"name": "distractor", "description": "never the answer", "arguments": {}, "results": {}, "tags": []},
]
ANSWER = {"MealPlanner_generate": {"meal_type": "dinner", "vegetarian": True, "servings": 2}}


def both(text: str, answer: Any = ANSWER, *, multi_turn: bool = False) -> tuple[bool, bool]:
    up = decode_upstream(text, multi_turn=multi_turn)
    st = decode_strict(text)
    upstream_ok = up.ok and check_normal(FUNCTIONS, up.calls, answer).ok
    strict_ok = st.ok and check_normal_strict(FUNCTIONS, st.calls, answer).ok
    return upstream_ok, strict_ok


def test_correct_answer_passes_both() -> None:
    assert both("[MealPlanner_generate(meal_type='dinner', vegetarian=True, servings=2)]") == (True, True)


@pytest.mark.parametrize(
    "text",
    [
        "[MealPlanner_generate(meal_type='breakfast', vegetarian=True, servings=2)]",  # wrong value
        "[distractor(meal_type='dinner')]",  # wrong function
        "[MealPlanner_generate(meal_type='dinner', vegetarian=True, servings=2, extra=1)]",  # extra arg
        "[MealPlanner_generate(vegetarian=True, servings=2)]",  # missing required
        "[MealPlanner_generate(meal_type='dinner'), MealPlanner_generate(meal_type='dinner')]",  # too many
        "[]",
    ],
)
def test_wrong_answers_fail_both(text: str) -> None:
    assert both(text) == (False, False)


@pytest.mark.parametrize(
    "garbage",
    ["", "I think you should eat pasta.", "[[[", "[MealPlanner_generate(meal_type=)]", "<tool_call>{}</tool_call>",
     "[__import__('os').system('echo hi')]", "[f(x=1)" * 500, "[1, 2, 3]", "\x00\x01]["],
)
def test_garbage_is_wrong_not_an_exception(garbage: str) -> None:
    assert both(garbage) == (False, False)
    assert both(garbage, multi_turn=True) == (False, False)


def test_upstream_does_not_compare_top_level_numbers_and_booleans() -> None:
    text = "[MealPlanner_generate(meal_type='dinner', vegetarian=False, servings=7)]"
    assert both(text) == (True, False)


def test_upstream_strings_match_by_normalised_substring() -> None:
    assert normalize("Dinner-Time, please") == "dinnertimeplease"
    assert both("[MealPlanner_generate(meal_type='Dinner-time', vegetarian=True, servings=2)]") == (True, False)
    assert both("[MealPlanner_generate(meal_type='DINNER', vegetarian=True, servings=2)]") == (True, True)


def test_upstream_optional_answer_arguments_may_be_omitted() -> None:
    assert both("[MealPlanner_generate(meal_type='dinner')]") == (True, False)


def test_multi_turn_whitespace_deletion_defect() -> None:
    answer = {"MealPlanner_generate": {"meal_type": "dinner", "options": {"tests": ["ping test"]}}}
    text = "[MealPlanner_generate(meal_type='dinner', options={'tests': ['ping test']})]"
    assert both(text, answer, multi_turn=True) == (False, True)
    assert both(text, answer, multi_turn=False) == (True, True)


def test_empty_list_answers_never_pass_upstream() -> None:
    answer = {"MealPlanner_generate": {"meal_type": "dinner", "tags": []}}
    assert both("[MealPlanner_generate(meal_type='dinner', tags=[])]", answer) == (False, True)


def test_parallel_calls_match_one_to_one_in_strict() -> None:
    answer = {
        "MealPlanner_generate_1": {"meal_type": "dinner"},
        "MealPlanner_generate_2": {"meal_type": "lunch"},
    }
    good = "[MealPlanner_generate(meal_type='lunch'), MealPlanner_generate(meal_type='dinner')]"
    assert both(good, answer) == (True, True)
    # upstream lets one output call satisfy both answer calls ("dinner" contains neither, but
    # "dinner lunch" contains both)
    doubled = "[MealPlanner_generate(meal_type='dinner lunch'), MealPlanner_generate(meal_type='x')]"
    assert both(doubled, answer) == (True, False)


def test_alternative_answers_any_may_match() -> None:
    answers = [ANSWER, {"MealPlanner_generate": {"meal_type": "supper"}}]
    assert both("[MealPlanner_generate(meal_type='supper')]", answers) == (True, True)


def test_decoders_never_eval() -> None:
    up = decode_upstream("[f(a=1+2, b=-3, c=true, d=g(x=1))]", multi_turn=False)
    assert up.ok and up.calls[0].arguments == {"a": 3, "b": -3, "c": "true", "d": {"g": {"x": 1}}}
    assert not decode_strict("[f(a=open('x'))]").ok
    assert first_balanced_brackets("text [f(a='[x]')] more") == "[f(a='[x]')]"
    assert first_balanced_brackets("[f(a=']')]", string_aware=True) == "[f(a=']')]"


def test_strict_values_compare_by_value() -> None:
    assert values_equal(1, 1.0) and values_equal("5", 5) and values_equal("true", True)
    assert not values_equal(1, True) and not values_equal(0.5, "half")
    assert values_equal({"a": [1, {"b": "X y"}]}, {"a": [1.0, {"b": "x-y"}]})
    assert not values_equal({"a": 1}, {"a": 1, "b": 2})


def test_special_checks() -> None:
    incomplete = {"climate_predict": ["latitude", "longitude"]}
    good = '["Missing necessary parameters (latitude, longitude) for the api (climate_predict)"]'
    assert check_special("special_incomplete", good, incomplete).ok
    assert not check_special("special_incomplete", good.replace("longitude", "lon"), incomplete).ok
    assert not check_special("special_incomplete", "[climate_predict(latitude=1)]", incomplete).ok
    wrong = {"plan_id": ["1234WrongID"]}
    sentence = '["There is incorrect value (1234WrongID) for the parameters (plan_id) in the conversation history."]'
    assert check_special("special_error_param", sentence, wrong).ok
    assert not check_special("special_error_param", sentence.replace("1234WrongID", "1234"), wrong).ok
    refusal = "Due to the limitations of the function, I cannot solve this problem."
    assert check_special("special_irrelevant", refusal, refusal).ok
    assert not check_special("special_irrelevant", "[get_weather(city='Paris')]", refusal).ok
