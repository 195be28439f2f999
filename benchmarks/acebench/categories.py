"""ACEBench categories (data file stems), their groups and the summary weights."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")

ATOM = (
    "normal_atom_bool",
    "normal_atom_enum",
    "normal_atom_number",
    "normal_atom_list",
    "normal_atom_object_short",
    "normal_atom_object_deep",
)
SINGLE_TURN = ("normal_single_turn_single_function", "normal_single_turn_parallel_function")
MULTI_TURN = ("normal_multi_turn_user_adjust", "normal_multi_turn_user_switch")
NORMAL = (*ATOM, *SINGLE_TURN, *MULTI_TURN, "normal_similar_api", "normal_preference")
SPECIAL = ("special_incomplete", "special_error_param", "special_irrelevant")
AGENT = ("agent_multi_turn", "agent_multi_step")
STEMS: tuple[str, ...] = (*NORMAL, *SPECIAL, *AGENT)

GROUPS: dict[str, tuple[str, ...]] = {
    "atom": ATOM,
    "single_turn": SINGLE_TURN,
    "multi_turn": MULTI_TURN,
    "normal": NORMAL,
    "special": SPECIAL,
    "agent": AGENT,
}

#: upstream summary weights (sqrt(n) / sum sqrt(n) for n = 700 / 150 / 50 scored units)
SUMMARY_WEIGHTS: dict[str, float] = {"normal": 0.578, "special": 0.2676, "agent": 0.1545}


class Kind(StrEnum):
    """How a category is run and scored."""

    NORMAL = "normal"  # one request per record, calls compared with the possible answer
    NORMAL_MULTI_TURN = "normal_multi_turn"  # one entry per conversation, one request per turn
    SPECIAL = "special"  # text reply checked for prescribed sentences
    AGENT = "agent"  # episode against the simulated APIs, end state + milestones


def kind_of(stem: str) -> Kind:
    if stem in MULTI_TURN:
        return Kind.NORMAL_MULTI_TURN
    if stem in SPECIAL:
        return Kind.SPECIAL
    if stem in AGENT:
        return Kind.AGENT
    if stem in NORMAL:
        return Kind.NORMAL
    raise ValueError(f"unknown ACEBench stem {stem!r}")


def category_name(language: str, stem: str) -> str:
    """The benchmark category of ``stem`` in ``language``, e.g. ``en_normal_atom_bool``."""
    return f"{language}_{stem}"


def split_category(category: str) -> tuple[Language, str]:
    """``en_normal_atom_bool`` -> ``("en", "normal_atom_bool")``."""
    language, _, stem = category.partition("_")
    if language not in LANGUAGES or stem not in STEMS:
        raise ValueError(f"not an ACEBench category: {category!r}")
    return language, stem
