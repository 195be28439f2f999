"""Label calls checked against their tools' JSON Schemas, when a samples file is read.

A label whose arguments break its tool's schema (a missing required argument, a string
for an integer, a value outside an ``enum``) would teach the model a call that the tool
refuses. :func:`check_labels` reports every such sample by id; the policy decides whether
the file is refused (``refuse``, the default) or those samples are dropped (``drop``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import jsonschema

from looptool.errors import UserError
from looptool.schema import Sample

log = logging.getLogger(__name__)

InvalidLabels = Literal["refuse", "drop"]

#: Problems listed in a refusal before "... and N more".
MAX_LISTED = 10


def label_problems(sample: Sample) -> list[str]:
    """Every schema violation of the sample's label calls, as ``tool: where: message``."""
    problems: list[str] = []
    for index, call in enumerate(sample.label_calls):
        spec = sample.tool(call.name)
        if spec is None:  # Sample's own validation refuses this; nothing to check against
            continue
        validator = jsonschema.Draft202012Validator(spec.parameters)
        errors = sorted(validator.iter_errors(call.arguments), key=lambda error: list(map(str, error.path)))
        for error in errors:
            where = "/".join(str(part) for part in error.path)
            prefix = f"label call {index} {call.name!r}" + (f" argument {where!r}" if where else "")
            problems.append(f"{prefix}: {error.message}")
    return problems


def check_labels(
    samples: Sequence[Sample], source: str, policy: InvalidLabels = "refuse", *,
    setting: str = "train.invalid_labels",
) -> list[Sample]:
    """The samples whose labels fit their tools' schemas. Under ``refuse`` any bad label is
    a :class:`UserError` listing the samples; under ``drop`` each one is logged and left out."""
    kept: list[Sample] = []
    reports: list[str] = []
    for number, sample in enumerate(samples, start=1):
        problems = label_problems(sample)
        if not problems:
            kept.append(sample)
            continue
        reports.append(f"record {number} (sample {sample.id!r}): {'; '.join(problems)}")
    if reports and policy == "refuse":
        listed = "\n  ".join(reports[:MAX_LISTED])
        more = f"\n  ... and {len(reports) - MAX_LISTED} more" if len(reports) > MAX_LISTED else ""
        raise UserError(
            f"{source}: {len(reports)} sample(s) with label arguments that break the tool's schema "
            f"(fix them, or set {setting}=drop to leave them out):\n  {listed}{more}"
        )
    for report in reports:
        log.warning("%s: dropped %s", source, report)
    return kept
