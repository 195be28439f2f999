"""Drawing slot values for a template (seeded), in dependency order.

Independent slots (pool, int, number, date, time, schema) are drawn first, then the slots
built from others (``after``, ``format``). :func:`values_key` is the identity of one
instantiation: two draws with the same key are the same sample.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Mapping
from typing import Any

from looptool.loop.seed.render import placeholder_roots, render_text
from looptool.loop.seed.templates import SlotSpec, Template
from looptool.loop.seed.toolsets import ToolSet


class SlotError(ValueError):
    """A slot cannot be drawn (bad reference, cycle, value out of range)."""


def slot_dependencies(spec: SlotSpec) -> list[str]:
    """The other slots this slot is built from."""
    if spec.after is not None:
        return [spec.after.slot]
    if spec.format is not None:
        return placeholder_roots(spec.format)
    return []


def slot_order(slots: Mapping[str, SlotSpec]) -> list[str]:
    """Slot names so that every slot comes after the ones it is built from."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise SlotError(f"slots depend on each other in a cycle: {' -> '.join([*chain, name])}")
        if name not in slots:
            raise SlotError(f"slot {chain[-1]!r} refers to unknown slot {name!r}")
        state[name] = "visiting"
        for dependency in slot_dependencies(slots[name]):
            visit(dependency, [*chain, name])
        state[name] = "done"
        order.append(name)

    for name in slots:
        visit(name, [])
    return order


def schema_choices(spec: SlotSpec, tool_set: ToolSet) -> dict[str, Any]:
    """The JSON Schema of the parameter a ``schema:`` slot refers to (checked usable)."""
    assert spec.schema_ref is not None
    tool_name, parameter = spec.schema_ref.split(".")
    properties = tool_set.spec(tool_name).properties
    if parameter not in properties:
        raise SlotError(f"schema {spec.schema_ref!r}: tool {tool_name!r} has no parameter {parameter!r}")
    schema: dict[str, Any] = properties[parameter]
    kind = schema.get("type")
    usable = (
        "enum" in schema
        or kind == "boolean"
        or (kind in ("integer", "number") and "minimum" in schema and "maximum" in schema)
    )
    if not usable:
        raise SlotError(
            f"schema {spec.schema_ref!r} has no enum, boolean type or minimum/maximum to draw "
            "from; give the slot a pool instead"
        )
    return schema


def _draw_from_schema(schema: dict[str, Any], rng: random.Random) -> Any:
    if "enum" in schema:
        return rng.choice(list(schema["enum"]))
    if schema.get("type") == "boolean":
        return rng.choice([True, False])
    if schema.get("type") == "integer":
        return rng.randint(int(schema["minimum"]), int(schema["maximum"]))
    return round(rng.uniform(float(schema["minimum"]), float(schema["maximum"])), 2)


def _time_grid(first: str, last: str, step: int) -> list[str]:
    start = dt.datetime.strptime(first, "%H:%M")
    end = dt.datetime.strptime(last, "%H:%M")
    grid: list[str] = []
    while start <= end:
        grid.append(start.strftime("%H:%M"))
        start += dt.timedelta(minutes=step)
    return grid


def _draw_after(name: str, spec: SlotSpec, values: Mapping[str, Any], rng: random.Random) -> str:
    assert spec.after is not None
    base = values[spec.after.slot]
    if spec.after.minutes is not None:
        try:
            moment = dt.datetime.strptime(str(base), "%H:%M")
        except ValueError:
            raise SlotError(f"slot {name!r}: {spec.after.slot!r} is not a time HH:MM") from None
        later = moment + dt.timedelta(minutes=rng.choice(spec.after.minutes))
        if later.date() != moment.date():
            raise SlotError(f"slot {name!r}: {base} plus the offset passes midnight")
        return later.strftime("%H:%M")
    assert spec.after.days is not None
    try:
        day = dt.date.fromisoformat(str(base))
    except ValueError:
        raise SlotError(f"slot {name!r}: {spec.after.slot!r} is not a date YYYY-MM-DD") from None
    return (day + dt.timedelta(days=rng.choice(spec.after.days))).isoformat()


def draw_value(
    name: str, spec: SlotSpec, values: Mapping[str, Any], rng: random.Random, tool_set: ToolSet
) -> Any:
    """One value of slot ``name``; ``values`` holds the slots drawn before it."""
    if spec.pool is not None:
        return json.loads(json.dumps(rng.choice(spec.pool), default=str))
    if spec.int_range is not None:
        return rng.randint(*spec.int_range)
    if spec.number is not None:
        number = round(rng.uniform(*spec.number), spec.decimals)
        return int(number) if spec.decimals == 0 else number
    if spec.date is not None:
        first, last = spec.date
        return (first + dt.timedelta(days=rng.randint(0, (last - first).days))).isoformat()
    if spec.time is not None:
        return rng.choice(_time_grid(spec.time[0], spec.time[1], spec.step_minutes))
    if spec.schema_ref is not None:
        return _draw_from_schema(schema_choices(spec, tool_set), rng)
    if spec.after is not None:
        return _draw_after(name, spec, values, rng)
    assert spec.format is not None
    return render_text(spec.format, values)


def draw_slots(template: Template, tool_set: ToolSet, rng: random.Random) -> dict[str, Any]:
    """One full set of slot values for ``template`` (may violate ``distinct``; see
    :func:`satisfies_distinct`)."""
    values: dict[str, Any] = {}
    for name in slot_order(template.slots):
        values[name] = draw_value(name, template.slots[name], values, rng, tool_set)
    return {name: values[name] for name in template.slots}


def values_key(values: Mapping[str, Any]) -> str:
    """Canonical text of one set of slot values."""
    return json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def satisfies_distinct(template: Template, values: Mapping[str, Any]) -> bool:
    """Whether the values in each ``distinct`` group all differ."""
    for group in template.distinct:
        keys = [values_key({"v": values[name]}) for name in group]
        if len(set(keys)) != len(keys):
            return False
    return True
