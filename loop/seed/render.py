"""Filling ``{slot}`` placeholders: text stays text, a lone placeholder keeps its type.

Only ``{name}`` and ``{name.field}`` (identifiers) are placeholders; any other brace, such
as the ones in JSON text, is literal. Nothing is evaluated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+)*)\}")


class SlotRenderError(KeyError):
    """A placeholder names a slot (or a field of it) that has no value."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "placeholder without a value"


def placeholder_roots(text: str) -> list[str]:
    """The slot names ``text`` refers to, in order of appearance."""
    return [match.group(1) for match in PLACEHOLDER.finditer(text)]


def iter_strings(value: Any) -> Iterator[str]:
    """Every string inside a nested JSON-like value, mapping keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from iter_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from iter_strings(item)


def _lookup(values: Mapping[str, Any], root: str, path: str) -> Any:
    if root not in values:
        raise SlotRenderError(f"placeholder {{{root}{path}}}: no slot {root!r}")
    value = values[root]
    for field in path.split(".")[1:]:
        if not isinstance(value, Mapping) or field not in value:
            raise SlotRenderError(f"placeholder {{{root}{path}}}: slot value has no field {field!r}")
        value = value[field]
    return value


def as_text(value: Any) -> str:
    """A slot value inside text: strings as they are, numbers plainly, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def render_text(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with every placeholder replaced by its value as text."""
    return PLACEHOLDER.sub(lambda match: as_text(_lookup(values, match.group(1), match.group(2))), text)


def render_value(value: Any, values: Mapping[str, Any]) -> Any:
    """A nested value with placeholders filled: a string that is exactly one placeholder
    becomes the slot's value itself (typed), other strings are rendered as text. Mapping
    keys are rendered as text too (a scenario's file paths)."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole is not None:
            found = _lookup(values, whole.group(1), whole.group(2))
            return json.loads(json.dumps(found))  # a copy, JSON-shaped
        return render_text(value, values)
    if isinstance(value, Mapping):
        return {render_text(str(key), values): render_value(item, values)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(item, values) for item in value]
    return value
