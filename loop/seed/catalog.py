"""Loading the curated template files into one checked :class:`Catalog`.

Every problem a template can have without being instantiated is found here and reported
with its file and template id: unknown tools, placeholders naming no slot, slot cycles,
``schema:`` slots with nothing to draw from, library calls in a context without a result.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from looptool.loop.seed.render import iter_strings, placeholder_roots
from looptool.loop.seed.slots import SlotError, schema_choices, slot_order
from looptool.loop.seed.templates import Template, TemplateFile
from looptool.loop.seed.toolsets import (
    ToolSet,
    ToolSetError,
    backend_tool_set,
    library_tool_set,
)

log = logging.getLogger(__name__)

#: The shipped templates and tool library (package data).
CURATED_DIR = Path(__file__).resolve().parent / "curated"

#: The curated multi-step episodes beside the templates (:mod:`looptool.loop.seed.episodes`),
#: not a template file.
EPISODES_FILE_NAME = "episodes.yaml"


class TemplateError(ValueError):
    """A template file or template is invalid; the message names the file and template."""


@dataclass(frozen=True)
class BoundTemplate:
    """A template with the tool set it is written over."""

    template: Template
    tool_set: ToolSet
    instances: int
    file: Path

    @property
    def id(self) -> str:
        return self.template.id


@dataclass(frozen=True)
class Catalog:
    """Every curated tool set and template (in file order, then template order)."""

    tool_sets: dict[str, ToolSet]
    templates: dict[str, BoundTemplate]
    folder: Path

    def template(self, template_id: str) -> BoundTemplate:
        found = self.templates.get(template_id)
        if found is None:
            raise TemplateError(f"no curated template {template_id!r} in {self.folder}")
        return found

    def tool_set(self, name: str) -> ToolSet:
        found = self.tool_sets.get(name)
        if found is None:
            known = ", ".join(sorted(self.tool_sets)) or "none"
            raise TemplateError(f"no curated tool set {name!r} (known: {known})")
        return found


def template_problems(template: Template, tool_set: ToolSet) -> list[str]:
    """What is wrong with ``template`` over ``tool_set`` (empty when it is fine)."""
    problems: list[str] = []
    for name in template.tools:
        try:
            tool_set.spec(name)
        except ToolSetError as error:
            problems.append(str(error))
    try:
        slot_order(template.slots)
    except SlotError as error:
        problems.append(str(error))
    for name, spec in template.slots.items():
        if spec.schema_ref is not None:
            try:
                schema_choices(spec, tool_set)
            except (SlotError, ToolSetError) as error:
                problems.append(f"slot {name!r}: {error}")
    texts = [
        template.user,
        template.reply or "",
        *iter_strings([call.model_dump() for call in template.calls]),
        *iter_strings([turn.model_dump() for turn in template.context]),
        *iter_strings(template.scenario or {}),
    ]
    unknown = sorted({root for text in texts for root in placeholder_roots(text)} - set(template.slots))
    if unknown:
        problems.append(f"placeholder(s) naming no slot: {unknown}")
    if not tool_set.executable:
        if template.scenario:
            problems.append("a scenario needs an executable backend")
        for index, turn in enumerate(template.context):
            for call in turn.calls:
                if call.result is None:
                    problems.append(
                        f"context turn {index}: call of {call.name!r} needs a result "
                        "(library tools are not executed)"
                    )
    return problems


def _load_file(path: Path) -> tuple[ToolSet, TemplateFile]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise TemplateError(f"{path}: cannot read: {error}") from None
    try:
        parsed = TemplateFile.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        if where.startswith("templates.") and isinstance(raw, dict):
            index = int(where.split(".")[1])
            items = raw.get("templates") or []
            ident = items[index].get("id", f"#{index}") if isinstance(items[index], dict) else f"#{index}"
            where = f"template {ident!r}: {where}"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise TemplateError(f"{path}: {where or 'top level'}: {message}") from None
    try:
        if parsed.backend is not None:
            tool_set = backend_tool_set(parsed.backend)
        else:
            assert parsed.library is not None
            tool_set = library_tool_set(path.parent / parsed.library)
    except ToolSetError as error:
        raise TemplateError(f"{path}: {error}") from None
    return tool_set, parsed


def load_catalog(folder: str | Path | None = None) -> Catalog:
    """Load and check every ``*.yaml`` under ``folder`` (default: the shipped set)."""
    root = Path(folder).resolve() if folder is not None else CURATED_DIR
    return _load_catalog_cached(str(root))


@functools.lru_cache(maxsize=8)
def _load_catalog_cached(root_text: str) -> Catalog:
    root = Path(root_text)
    if not root.is_dir():
        raise TemplateError(f"curated template folder {root} does not exist")
    files = sorted(path for path in root.glob("*.yaml") if path.name != EPISODES_FILE_NAME)
    if not files:
        raise TemplateError(f"curated template folder {root} has no *.yaml file")
    tool_sets: dict[str, ToolSet] = {}
    templates: dict[str, BoundTemplate] = {}
    for path in files:
        tool_set, parsed = _load_file(path)
        known = tool_sets.get(tool_set.name)
        if known is not None and known.specs != tool_set.specs:
            raise TemplateError(f"{path}: tool set {tool_set.name!r} is loaded twice with different tools")
        tool_sets[tool_set.name] = tool_set
        for template in parsed.templates:
            if template.id in templates:
                raise TemplateError(
                    f"{path}: template id {template.id!r} is already used in "
                    f"{templates[template.id].file.name}"
                )
            problems = template_problems(template, tool_set)
            if problems:
                raise TemplateError(f"{path}: template {template.id!r}: " + "; ".join(problems))
            templates[template.id] = BoundTemplate(
                template=template, tool_set=tool_set,
                instances=template.instances or parsed.instances, file=path,
            )
    log.debug("curated catalog %s: %d tool sets, %d templates", root, len(tool_sets), len(templates))
    return Catalog(tool_sets=tool_sets, templates=templates, folder=root)
