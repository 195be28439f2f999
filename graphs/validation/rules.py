"""Stage 1 of validation: deterministic rules over a dialogue or a sample.

A dialogue is checked at every assistant step; a sample at its label step only (its context
is the text before the call). Checks, per step (``step`` = index among the assistant
messages, so a sample's label step has the index its turn had in the dialogue):

* ``unknown_tool`` — a call names a tool that is not offered;
* ``missing_required`` / ``wrong_type`` / ``enum_violation`` / ``schema_violation`` — the
  arguments do not validate against the tool's JSON Schema (missing required parameter,
  wrong JSON type, value outside an enum, anything else such as an unknown extra key when
  ``additionalProperties`` is false);
* ``placeholder_value`` — an argument is a template placeholder such as ``"<city>"``;
* ``ungrounded_value`` — a value the user must supply does not occur in the dialogue before
  the call (see below);
* ``call_when_no_tool_fits`` — in an irrelevance dialogue (the needed tools were withheld)
  the assistant called a tool anyway;
* whole dialogue only: ``malformed_output`` (unparseable ``<tool_call>``), ``no_assistant_turn``,
  ``no_tool_call`` (a task planned over the offered tools, yet the assistant never called one;
  ``require_tool_call: false`` turns it off), ``stop:<reason>`` when the stop reason is not in
  ``accept_stop_reasons``.

**Grounding heuristic** (``validation.grounding``). A parameter *demands a user-supplied
value* when it is required (``grounding: required``; ``all`` checks optional ones too), is
free-form (no ``enum``/``const``, not boolean) and the value is not the schema's ``default``.
Each string/number leaf of such a value must be *grounded* in the text before the call (system,
user and tool messages, assistant text and a sample's date/time ``now`` — not earlier call
arguments):

* a string is grounded when, case- and whitespace-normalised, it is a substring of that text,
  or when at least ``grounding_min_overlap`` of its words (runs of letters/digits) occur in it
  (so "Paris, France" passes after "I'm going to Paris", "John Smith" fails when no name was
  given); strings of at most one character are not judged;
* a number is grounded when the same value occurs among the text's numbers (``1,000`` and
  ``1000.0`` match ``1000``); 0 and 1 are not judged (counts and flags the assistant may infer).

The heuristic is deliberately literal: it rejects computed values (a date the assistant
derived from "tomorrow", a converted unit) along with invented ones; the LLM judge is not
asked to rescue them. Turn ``grounding`` to ``off`` for tool sets where that is too strict.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict

from looptool.graphs.validation.samples import label_message
from looptool.graphs.validation.settings import ValidationSettings
from looptool.schema import Message, Role, Sample, ToolCall, ToolSpec

PLACEHOLDER = re.compile(r"^\s*(<[^<>]{1,60}>|\{\{?[^{}]{1,60}\}?\}|\[[A-Z_ ]{2,40}\])\s*$")
WORD = re.compile(r"[a-z0-9]+")
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")

_VALIDATOR_KIND = {"required": "missing_required", "type": "wrong_type", "enum": "enum_violation",
                   "const": "enum_violation"}


class RuleViolation(BaseModel):
    """One broken rule: which, where, and a sentence naming the problem."""

    model_config = ConfigDict(extra="forbid")

    rule: str
    message: str
    step: int | None = None  # index among assistant messages
    tool: str | None = None

    def describe(self) -> str:
        where = f"step {self.step}: " if self.step is not None else ""
        return f"{where}{self.rule}: {self.message}"


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def _numbers(text: str) -> set[float]:
    found: set[float] = set()
    for token in NUMBER.findall(text):
        try:
            found.add(float(token.replace(",", "")))
        except ValueError:
            continue
    return found


class GroundingText:
    """The text before a call (and the date/time ``now``), prepared for grounding checks."""

    def __init__(self, messages: list[Message], now: str | None = None) -> None:
        parts = [message.content for message in messages if message.content]
        if now:
            parts.append(now)
        self.text = _normalise("\n".join(parts))
        self.words = set(WORD.findall(self.text))
        self.numbers = _numbers(self.text)

    def grounds_string(self, value: str, min_overlap: float) -> bool:
        normalised = _normalise(value)
        if len(normalised) <= 1 or normalised in self.text:
            return True
        words = WORD.findall(normalised)
        if not words:
            return True
        present = sum(1 for word in words if word in self.words)
        return present / len(words) >= min_overlap

    def grounds_number(self, value: float) -> bool:
        return value in (0, 1) or float(value) in self.numbers


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _demands_user_value(name: str, spec: ToolSpec, value: Any, mode: str) -> bool:
    schema = spec.properties.get(name)
    if not isinstance(schema, dict):
        return False
    if mode == "required" and name not in spec.required:
        return False
    if "enum" in schema or "const" in schema or schema.get("type") == "boolean":
        return False
    return not ("default" in schema and schema["default"] == value)


def schema_violations(call: ToolCall, spec: ToolSpec, step: int) -> list[RuleViolation]:
    """The call's arguments against the tool's JSON Schema, one violation per error."""
    validator = jsonschema.Draft202012Validator(spec.parameters)
    found: list[RuleViolation] = []
    for error in sorted(validator.iter_errors(call.arguments), key=lambda e: list(map(str, e.path))):
        where = "/".join(str(part) for part in error.path)
        found.append(RuleViolation(
            rule=_VALIDATOR_KIND.get(str(error.validator), "schema_violation"),
            message=f"{call.name}: {where + ': ' if where else ''}{error.message}",
            step=step, tool=call.name,
        ))
    return found


def value_violations(
    call: ToolCall, spec: ToolSpec, context: GroundingText, step: int, settings: ValidationSettings
) -> list[RuleViolation]:
    """Placeholders anywhere in the arguments; ungrounded user-supplied values."""
    found: list[RuleViolation] = []
    for leaf in _leaves(call.arguments):
        if isinstance(leaf, str) and PLACEHOLDER.match(leaf):
            found.append(RuleViolation(rule="placeholder_value", step=step, tool=call.name,
                                       message=f"{call.name}: argument value {leaf!r} is a placeholder"))
    if settings.grounding == "off":
        return found
    for name, value in call.arguments.items():
        if not _demands_user_value(name, spec, value, settings.grounding):
            continue
        for leaf in _leaves(value):
            if isinstance(leaf, bool) or leaf is None:
                continue
            if isinstance(leaf, str):
                if PLACEHOLDER.match(leaf):
                    continue  # reported above
                grounded = context.grounds_string(leaf, settings.grounding_min_overlap)
            elif isinstance(leaf, int | float):
                grounded = context.grounds_number(leaf)
            else:
                continue
            if not grounded:
                found.append(RuleViolation(
                    rule="ungrounded_value", step=step, tool=call.name,
                    message=f"{call.name}: {name}={leaf!r} does not occur in the text before the call",
                ))
    return found


def check_step(
    step_message: Message,
    before: list[Message],
    offered: dict[str, ToolSpec],
    settings: ValidationSettings,
    step: int,
    *,
    irrelevant: bool = False,
    now: str | None = None,
) -> list[RuleViolation]:
    """Every rule violation of one assistant step given the messages ``before`` it."""
    violations: list[RuleViolation] = []
    context: GroundingText | None = None
    for call in step_message.tool_calls:
        spec = offered.get(call.name)
        if spec is None:
            violations.append(RuleViolation(
                rule="unknown_tool", step=step, tool=call.name,
                message=f"{call.name!r} is not an offered tool (offered: {', '.join(offered) or 'none'})",
            ))
            continue
        if irrelevant:
            violations.append(RuleViolation(
                rule="call_when_no_tool_fits", step=step, tool=call.name,
                message=f"{call.name} was called although no offered tool fits the task",
            ))
        violations.extend(schema_violations(call, spec, step))
        context = context or GroundingText(before, now)
        violations.extend(value_violations(call, spec, context, step, settings))
    return violations


def check_dialogue(
    messages: list[Message],
    tools: list[ToolSpec],
    settings: ValidationSettings,
    *,
    irrelevant: bool = False,
    stop_reason: str | None = None,
    parse_errors: list[str] | None = None,
    now: str | None = None,
) -> list[RuleViolation]:
    """Every rule violation of a dialogue (empty: the dialogue passes stage 1)."""
    offered = {tool.name: tool for tool in tools}
    violations: list[RuleViolation] = []
    for error in parse_errors or []:
        violations.append(RuleViolation(rule="malformed_output", message=error))
    if (stop_reason is not None and stop_reason not in settings.accept_stop_reasons
            and not (stop_reason == "malformed_output" and parse_errors)):
        violations.append(RuleViolation(rule=f"stop:{stop_reason}",
                                        message=f"the dialogue stopped with {stop_reason!r}"))
    step = -1
    for position, message in enumerate(messages):
        if message.role != Role.ASSISTANT:
            continue
        step += 1
        violations.extend(check_step(message, messages[:position], offered, settings, step,
                                     irrelevant=irrelevant, now=now))
    if step < 0:
        violations.append(RuleViolation(rule="no_assistant_turn", message="the dialogue has no assistant turn"))
    elif settings.require_tool_call and not irrelevant and not any(
        message.tool_calls for message in messages if message.role == Role.ASSISTANT
    ):
        violations.append(RuleViolation(
            rule="no_tool_call",
            message="the task was planned over the offered tools but the assistant never called one",
        ))
    return violations


def label_step(sample: Sample) -> int:
    """The label's step index: how many assistant steps its context already holds."""
    return sum(1 for message in sample.context if message.role == Role.ASSISTANT)


def check_sample(sample: Sample, settings: ValidationSettings, *, irrelevant: bool = False) -> list[RuleViolation]:
    """Every rule violation of a sample's label step: its calls against the sample's tool
    schemas, its values grounded in the context (and ``now``). A text label passes."""
    offered = {tool.name: tool for tool in sample.tools}
    return check_step(label_message(sample), sample.context, offered, settings, label_step(sample),
                      irrelevant=irrelevant, now=sample.now)
