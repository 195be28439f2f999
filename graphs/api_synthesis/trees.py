"""The context tree and the constraint tree: YAML files a user edits, validated by pydantic.

* Context tree: ``domains.<Domain>.subdomains.<Subdomain>.intents.<Intent>: description``.
  A leaf (:class:`ContextLeaf`) is one function intent with its path.
* Constraint tree: five dimensions (``naming_convention``, ``parameter_count``,
  ``parameter_types``, ``required_mix``, ``return_format``), each mapping option names to
  their settings. A constraint path picks one option (leaf) per dimension.

Every problem is reported as :class:`TreeError` naming the file and the bad node, e.g.
``context tree trees.yaml: node 'domains.Travel.subdomains.Lodging.intents': ...``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_TREES_DIR = Path(__file__).resolve().parents[2] / "configs" / "trees"
DEFAULT_CONTEXT_TREE = DEFAULT_TREES_DIR / "context_tree.yaml"
DEFAULT_CONSTRAINT_TREE = DEFAULT_TREES_DIR / "constraint_tree.yaml"

JsonType = Literal["string", "integer", "number", "boolean", "array", "object"]
JSON_TYPES: tuple[JsonType, ...] = ("string", "integer", "number", "boolean", "array", "object")
Feature = Literal["enum", "array", "object"]


class TreeError(ValueError):
    """A tree file is missing or invalid; the message names the file and the node."""


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} name must be a non-empty string, got {name!r}")
    if name != name.strip():
        raise ValueError(f"{what} name {name!r} has leading or trailing spaces")


# ----------------------------------------------------------------------------- context tree


class ContextLeaf(BaseModel):
    """One function intent with its path through the context tree."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: str
    subdomain: str
    intent: str
    description: str = ""

    @property
    def path(self) -> list[str]:
        return [self.domain, self.subdomain, self.intent]

    def label(self) -> str:
        return " > ".join(self.path)


class Subdomain(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    intents: dict[str, str | None] = Field(min_length=1)

    @field_validator("intents")
    @classmethod
    def _names(cls, intents: dict[str, str | None]) -> dict[str, str | None]:
        for name in intents:
            _check_name(name, "intent")
        return intents


class Domain(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    subdomains: dict[str, Subdomain] = Field(min_length=1)

    @field_validator("subdomains")
    @classmethod
    def _names(cls, subdomains: dict[str, Subdomain]) -> dict[str, Subdomain]:
        for name in subdomains:
            _check_name(name, "subdomain")
        return subdomains


class ContextTree(BaseModel):
    """Domain -> subdomain -> function intent."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    domains: dict[str, Domain] = Field(min_length=1)

    @field_validator("domains")
    @classmethod
    def _names(cls, domains: dict[str, Domain]) -> dict[str, Domain]:
        for name in domains:
            _check_name(name, "domain")
        return domains

    def leaves(self) -> list[ContextLeaf]:
        """Every intent, in file order."""
        return [
            ContextLeaf(
                domain=domain_name,
                subdomain=sub_name,
                intent=intent,
                description=(description or "").strip(),
            )
            for domain_name, domain in self.domains.items()
            for sub_name, subdomain in domain.subdomains.items()
            for intent, description in subdomain.intents.items()
        ]


# ----------------------------------------------------------------------------- constraint tree


class Option(BaseModel):
    """A leaf of the constraint tree: a weighted choice within one dimension."""

    model_config = ConfigDict(extra="forbid")

    weight: float = Field(default=1.0, gt=0, description="relative sampling probability")
    description: str = ""


class NamingOption(Option):
    function_pattern: str = Field(description="regex the function name must fully match")
    parameter_pattern: str = Field(description="regex every parameter name must fully match")
    example_function: str
    example_parameter: str

    @field_validator("function_pattern", "parameter_pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"not a valid regular expression: {error}") from None
        return pattern

    @model_validator(mode="after")
    def _examples_match(self) -> NamingOption:
        if not re.fullmatch(self.function_pattern, self.example_function):
            raise ValueError(
                f"example_function {self.example_function!r} does not match function_pattern"
            )
        if not re.fullmatch(self.parameter_pattern, self.example_parameter):
            raise ValueError(
                f"example_parameter {self.example_parameter!r} does not match parameter_pattern"
            )
        return self


class CountOption(Option):
    min: int = Field(ge=0)
    max: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> CountOption:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class TypesOption(Option):
    allowed_types: list[JsonType] = Field(default_factory=lambda: list(JSON_TYPES), min_length=1)
    must_include: list[Feature] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> TypesOption:
        for feature in self.must_include:
            if feature in ("array", "object") and feature not in self.allowed_types:
                raise ValueError(f"must_include {feature!r} but allowed_types lacks {feature!r}")
            if feature == "enum" and "string" not in self.allowed_types:
                raise ValueError("must_include 'enum' needs 'string' in allowed_types")
        return self


class RequiredOption(Option):
    min_required: int = Field(default=0, ge=0)
    max_required: int | None = Field(default=None, ge=0)
    min_optional: int = Field(default=0, ge=0)
    max_optional: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> RequiredOption:
        if self.max_required is not None and self.min_required > self.max_required:
            raise ValueError("min_required is greater than max_required")
        if self.max_optional is not None and self.min_optional > self.max_optional:
            raise ValueError("min_optional is greater than max_optional")
        return self

    def admits(self, count: int) -> bool:
        """Whether some split of ``count`` parameters satisfies this option."""
        for required in range(count + 1):
            optional = count - required
            if required < self.min_required or optional < self.min_optional:
                continue
            if self.max_required is not None and required > self.max_required:
                continue
            if self.max_optional is not None and optional > self.max_optional:
                continue
            return True
        return False


class ReturnOption(Option):
    type: JsonType | list[JsonType]
    items_type: JsonType | None = None
    min_properties: int = Field(default=0, ge=0)
    required_properties: list[str] = Field(default_factory=list)

    @property
    def types(self) -> list[str]:
        return [self.type] if isinstance(self.type, str) else list(self.type)

    @model_validator(mode="after")
    def _consistent(self) -> ReturnOption:
        if not self.types:
            raise ValueError("type must name at least one JSON type")
        if self.items_type is not None and "array" not in self.types:
            raise ValueError("items_type is set but type does not allow 'array'")
        if (self.min_properties or self.required_properties) and "object" not in self.types:
            raise ValueError("min_properties/required_properties need type 'object'")
        return self


DIMENSIONS = ("naming_convention", "parameter_count", "parameter_types", "required_mix", "return_format")


class ConstraintTree(BaseModel):
    """Five dimensions of weighted options; a path picks one option per dimension."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    naming_convention: dict[str, NamingOption] = Field(min_length=1)
    parameter_count: dict[str, CountOption] = Field(min_length=1)
    parameter_types: dict[str, TypesOption] = Field(min_length=1)
    required_mix: dict[str, RequiredOption] = Field(min_length=1)
    return_format: dict[str, ReturnOption] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_and_feasibility(self) -> ConstraintTree:
        for dimension in DIMENSIONS:
            for name in self.options(dimension):
                _check_name(name, f"{dimension} option")
        if not any(
            option.admits(count)
            for band in self.parameter_count.values()
            for option in self.required_mix.values()
            for count in range(band.min, band.max + 1)
        ):
            raise ValueError(
                "no parameter_count option can satisfy any required_mix option; "
                "widen a count band or relax a required_mix bound"
            )
        return self

    def options(self, dimension: str) -> dict[str, Option]:
        if dimension not in DIMENSIONS:
            raise KeyError(f"unknown constraint dimension {dimension!r} (known: {', '.join(DIMENSIONS)})")
        options: dict[str, Option] = getattr(self, dimension)
        return options


# ----------------------------------------------------------------------------- loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys (YAML silently keeps the last one)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise TreeError(f"duplicate key {key!r} at line {line}")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors()[:8]:
        location = [str(part) for part in item["loc"]]
        # pydantic appends the validator kind (e.g. 'function-after[...]'); drop it
        location = [part for part in location if "[" not in part or not part.endswith("]")]
        node = ".".join(location) or "<top level>"
        lines.append(f"node '{node}': {item['msg']}")
    more = len(error.errors()) - 8
    if more > 0:
        lines.append(f"... and {more} more")
    return "; ".join(lines)


def _read_yaml(path: Path, what: str) -> Any:
    if not path.is_file():
        raise TreeError(f"{what} {path}: no such file")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - safe loader subclass
    except TreeError as error:
        raise TreeError(f"{what} {path}: {error}") from None
    except yaml.YAMLError as error:
        raise TreeError(f"{what} {path}: not valid YAML: {error}") from None


def parse_context_tree(data: Any, source: str = "<data>") -> ContextTree:
    """Validate already-loaded YAML data as a context tree."""
    try:
        return ContextTree.model_validate(data)
    except ValidationError as error:
        raise TreeError(f"context tree {source}: {_describe(error)}") from None


def parse_constraint_tree(data: Any, source: str = "<data>") -> ConstraintTree:
    """Validate already-loaded YAML data as a constraint tree."""
    try:
        return ConstraintTree.model_validate(data)
    except ValidationError as error:
        raise TreeError(f"constraint tree {source}: {_describe(error)}") from None


def load_context_tree(path: str | Path | None = None) -> ContextTree:
    """Load and validate a context tree (the shipped default when ``path`` is None)."""
    source = Path(path) if path is not None else DEFAULT_CONTEXT_TREE
    return parse_context_tree(_read_yaml(source, "context tree"), str(source))


def load_constraint_tree(path: str | Path | None = None) -> ConstraintTree:
    """Load and validate a constraint tree (the shipped default when ``path`` is None)."""
    source = Path(path) if path is not None else DEFAULT_CONSTRAINT_TREE
    return parse_constraint_tree(_read_yaml(source, "constraint tree"), str(source))
