"""Stage 1 of seed validation: deterministic rules over a simulated dialogue.

Checks, per assistant step (``step`` = index among the assistant messages):

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
* whole dialogue: ``malformed_output`` (unparseable ``<tool_call>``), ``no_assistant_turn``,
  ``no_tool_call`` (a task planned over the offered tools, yet the assistant never called one;
  ``require_tool_call: false`` turns it off), ``stop:<reason>`` when the stop reason is not in
  ``accept_stop_reasons``.

**Grounding heuristic** (``dialogue_synth.grounding``). A parameter *demands a user-supplied
value* when it is required (``grounding: required``; ``all`` checks optional ones too), is
free-form (no ``enum``/``const``, not boolean) and the value is not the schema's ``default``.
Each string/number leaf of such a value must be *grounded* in the text before the call (user
messages, assistant text, tool results — not earlier call arguments):

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

from looptool.graphs.dialogue.config import DialogueSynthSettings
from looptool.schema import Message, Role, ToolCall, ToolSpec

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
    """The dialogue text before a call, prepared for grounding checks."""

    def __init__(self, messages: list[Message]) -> None:
        parts = [message.content for message in messages if message.content]
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
    call: ToolCall, spec: ToolSpec, before: list[Message], step: int, settings: DialogueSynthSettings
) -> list[RuleViolation]:
    """Placeholders anywhere in the arguments; ungrounded user-supplied values."""
    found: list[RuleViolation] = []
    for leaf in _leaves(call.arguments):
        if isinstance(leaf, str) and PLACEHOLDER.match(leaf):
            found.append(RuleViolation(rule="placeholder_value", step=step, tool=call.name,
                                       message=f"{call.name}: argument value {leaf!r} is a placeholder"))
    if settings.grounding == "off":
        return found
    context = GroundingText(before)
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
                    message=f"{call.name}: {name}={leaf!r} does not occur in the dialogue before the call",
                ))
    return found


def check_dialogue(
    messages: list[Message],
    tools: list[ToolSpec],
    settings: DialogueSynthSettings,
    *,
    irrelevant: bool = False,
    stop_reason: str | None = None,
    parse_errors: list[str] | None = None,
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
        before = messages[:position]
        for call in message.tool_calls:
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
            violations.extend(value_violations(call, spec, before, step, settings))
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
