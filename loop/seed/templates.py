"""The typed model of a curated template file (``curated/*.yaml``).

A file names one tool set (an executable ``backend`` or a ``library`` of tool specs shipped
beside it) and lists templates. A template is a user request with ``{slot}`` placeholders,
the label (tool calls with placeholders in their arguments, or a text ``reply``), optional
earlier turns (``context``), an optional initial backend state (``scenario``) and the slots
that fill the placeholders::

    backend: calculator
    instances: 4
    templates:
      - id: calculator.single.multiply
        category: single
        tools: [calculate]
        user: "What is {a} times {b}?"
        calls:
          - {name: calculate, arguments: {expression: "{a} * {b}"}}
        slots:
          a: {int: [12, 999]}
          b: {int: [3, 99]}

A string that is exactly one placeholder (``"{a}"``) becomes the slot's typed value (an int
stays an int, a list stays a list); a placeholder inside longer text is rendered as text.
``{slot.field}`` reads a field of a slot whose values are mappings. See docs/seed.md.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Category = Literal["single", "multiple", "parallel", "missing_params", "irrelevance", "multi_turn"]

#: Every curated category, in report order.
CATEGORIES: tuple[Category, ...] = get_args(Category)

#: Categories whose label is a text reply rather than tool calls.
TEXT_CATEGORIES: frozenset[str] = frozenset({"missing_params", "irrelevance"})

TEMPLATE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
TIME_PATTERN = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class AfterSpec(BaseModel):
    """A value some minutes (of an ``HH:MM`` slot) or days (of a date slot) after another."""

    model_config = ConfigDict(extra="forbid")

    slot: str
    minutes: list[int] | None = None
    days: list[int] | None = None

    @model_validator(mode="after")
    def _one_offset(self) -> AfterSpec:
        offsets = [item for item in (self.minutes, self.days) if item is not None]
        if len(offsets) != 1 or not offsets[0]:
            raise ValueError("give exactly one non-empty list: minutes or days")
        if any(value <= 0 for value in offsets[0]):
            raise ValueError("offsets must be positive")
        return self


class SlotSpec(BaseModel):
    """How one slot's values are drawn; exactly one kind is given.

    * ``pool: [...]`` — one of these values (scalars or mappings);
    * ``int: [lo, hi]`` — an integer in the inclusive range;
    * ``number: [lo, hi]`` with ``decimals`` — a rounded float;
    * ``date: [first, last]`` — a ``YYYY-MM-DD`` date in the range;
    * ``time: ["HH:MM", "HH:MM"]`` with ``step_minutes`` — a time of day on the step grid;
    * ``schema: tool.parameter`` — from that parameter's JSON Schema (enum, boolean, or an
      integer/number with minimum and maximum);
    * ``after: {slot: s, minutes: [...]}`` / ``{slot: s, days: [...]}`` — later than slot s;
    * ``format: "{date}T{start}"`` — text built from other slots.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    pool: list[Any] | None = None
    int_range: tuple[int, int] | None = Field(default=None, alias="int")
    number: tuple[float, float] | None = None
    decimals: int = Field(default=1, ge=0, le=6)
    date: tuple[dt.date, dt.date] | None = None
    time: tuple[str, str] | None = None
    step_minutes: int = Field(default=15, ge=1, le=720)
    schema_ref: str | None = Field(default=None, alias="schema")
    after: AfterSpec | None = None
    format: str | None = None

    @field_validator("time")
    @classmethod
    def _check_times(cls, value: tuple[str, str] | None) -> tuple[str, str] | None:
        if value is not None:
            for item in value:
                if not TIME_PATTERN.match(item):
                    raise ValueError(f"{item!r} is not a time like \"09:30\" (quote it in YAML)")
            if value[1] < value[0]:
                raise ValueError(f"time range {value[0]}..{value[1]} is empty")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> SlotSpec:
        given = [name for name in self.kinds_given()]
        if len(given) != 1:
            shown = ", ".join(given) or "none"
            raise ValueError(
                "a slot needs exactly one of pool, int, number, date, time, schema, after, "
                f"format (given: {shown})"
            )
        if self.pool is not None and not self.pool:
            raise ValueError("pool is empty")
        ranges: list[tuple[str, Any, Any]] = [
            (name, bounds[0], bounds[1])
            for name, bounds in (("int", self.int_range), ("number", self.number), ("date", self.date))
            if bounds is not None
        ]
        for name, low, high in ranges:
            if high < low:
                raise ValueError(f"{name} range {low}..{high} is empty")
        if self.schema_ref is not None and self.schema_ref.count(".") != 1:
            raise ValueError(f"schema {self.schema_ref!r} must look like tool_name.parameter")
        return self

    def kinds_given(self) -> list[str]:
        fields = {
            "pool": self.pool, "int": self.int_range, "number": self.number, "date": self.date,
            "time": self.time, "schema": self.schema_ref, "after": self.after,
            "format": self.format,
        }
        return [name for name, value in fields.items() if value is not None]

    @property
    def kind(self) -> str:
        return self.kinds_given()[0]


class CallTemplate(BaseModel):
    """One tool call; ``result`` is the tool's answer where the tool is not executable
    (a JSON value or text, slot-rendered; required for calls in ``context``)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: Any = None


class TurnTemplate(BaseModel):
    """An earlier exchange: the user's message, the assistant's calls (their results are
    computed by executing them, or taken from ``result``) and/or its text reply."""

    model_config = ConfigDict(extra="forbid")

    user: str
    calls: list[CallTemplate] = Field(default_factory=list)
    reply: str | None = None

    @model_validator(mode="after")
    def _has_answer(self) -> TurnTemplate:
        if not self.calls and not self.reply:
            raise ValueError("an earlier turn needs calls, a reply, or both")
        return self


class Template(BaseModel):
    """One curated request pattern; instantiated with different slot values."""

    model_config = ConfigDict(extra="forbid")

    id: str
    category: Category
    tools: list[str] = Field(min_length=1, description="names of the offered tools")
    instances: int | None = Field(default=None, ge=1, description="default: the file's")
    scenario: dict[str, Any] | None = Field(
        default=None, description="initial state of the backend (slot-rendered)"
    )
    context: list[TurnTemplate] = Field(default_factory=list)
    user: str
    calls: list[CallTemplate] = Field(default_factory=list)
    reply: str | None = None
    slots: dict[str, SlotSpec] = Field(default_factory=dict)
    distinct: list[list[str]] = Field(
        default_factory=list, description="groups of slots whose values must all differ"
    )

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not TEMPLATE_ID_PATTERN.match(value):
            raise ValueError(
                f"template id {value!r} must be lowercase letters, digits, '_', '.', '-'"
            )
        return value

    @model_validator(mode="after")
    def _check_label(self) -> Template:
        if bool(self.calls) == (self.reply is not None):
            raise ValueError("give exactly one label: calls or reply")
        offered = set(self.tools)
        if len(offered) != len(self.tools):
            raise ValueError("tools lists a tool twice")
        for call in [*self.calls, *(call for turn in self.context for call in turn.calls)]:
            if call.name not in offered:
                raise ValueError(f"call of {call.name!r}, which is not in tools {self.tools}")
        rules = {
            "single": (len(self.calls) == 1 and len(self.tools) == 1,
                       "one call with one offered tool"),
            "multiple": (len(self.calls) == 1 and len(self.tools) >= 2,
                         "one call with several offered tools"),
            "parallel": (len(self.calls) >= 2, "two or more calls"),
            "missing_params": (self.reply is not None, "a text reply"),
            "irrelevance": (self.reply is not None, "a text reply"),
            "multi_turn": (bool(self.context), "earlier turns in context"),
        }
        holds, needs = rules[self.category]
        if not holds:
            raise ValueError(f"category {self.category!r} needs {needs}")
        if self.category != "multi_turn" and self.context:
            raise ValueError(f"category {self.category!r} has no context; use multi_turn")
        for group in self.distinct:
            unknown = [name for name in group if name not in self.slots]
            if unknown or len(group) < 2:
                raise ValueError(f"distinct group {group} needs two or more known slots")
        return self


class TemplateFile(BaseModel):
    """One ``curated/*.yaml`` file: a tool set and its templates."""

    model_config = ConfigDict(extra="forbid")

    backend: str | None = Field(default=None, description="a registered executable backend")
    library: str | None = Field(
        default=None, description="OpenAI-function spec file beside the YAML (not executable)"
    )
    instances: int = Field(default=4, ge=1, description="instances per template")
    templates: list[Template] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_tool_set(self) -> TemplateFile:
        if (self.backend is None) == (self.library is None):
            raise ValueError("give exactly one tool set: backend or library")
        return self
