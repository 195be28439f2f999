"""YAML recipes with ``key.sub=value`` overrides, validated by pydantic.

The kernel owns the common sections (``run``, ``model``, ``serve``, ``roles``). Each area
registers its own section model with :func:`register_section` in a settings module listed
in :data:`SECTION_MODULES`; :data:`SECTIONS` (a :class:`looptool.registry.Registry`) imports
those modules on first use, so :func:`load_config` knows every section whoever calls it.
Outside packages add sections through the entry-point group ``looptool.config_sections``.

Every problem of a recipe is reported at once, in one :class:`ConfigError`: unknown
sections and unknown keys at any depth (with the closest known key suggested), values of
the wrong type, malformed overrides.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from looptool.errors import UserError
from looptool.jsonl import DataFileError, read_text
from looptool.registry import Registry

SectionT = TypeVar("SectionT", bound=BaseModel)


@dataclass(frozen=True)
class ConfigProblem:
    """One bad key or value: the dotted key and a sentence saying what is wrong."""

    key: str
    message: str

    def __str__(self) -> str:
        return self.message


class ConfigError(UserError, ValueError):
    """A recipe or override is invalid; the message names every bad key.

    ``problems`` lists them one by one (empty when the error is not about keys, e.g. a
    missing file)."""

    def __init__(self, message: str, problems: Sequence[ConfigProblem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)

    @classmethod
    def from_problems(cls, problems: Sequence[ConfigProblem], source: str = "the config") -> ConfigError:
        if len(problems) == 1:
            return cls(problems[0].message, problems)
        lines = "\n".join(f"  - {problem.message}" for problem in problems)
        return cls(f"{len(problems)} problems in {source}:\n{lines}", problems)


class SamplingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int | None = None


class RoleSettings(BaseModel):
    """One model role: where it is served and how it samples."""

    model_config = ConfigDict(extra="forbid")

    base_urls: list[str] = Field(default_factory=list, description="OpenAI-compatible /v1 URLs")
    model: str = "smollm2"
    api_key: str = "EMPTY"
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    timeout_s: float = 120.0
    max_retries: int = 3


class RolesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    generator: RoleSettings = Field(default_factory=RoleSettings)
    judge: RoleSettings = Field(default_factory=lambda: RoleSettings(sampling=SamplingSettings(temperature=0.0)))
    policy: RoleSettings = Field(default_factory=RoleSettings)
    user_sim: RoleSettings = Field(default_factory=RoleSettings)


class ModelSettings(BaseModel):
    """The model to serve/train: a folder path, or ``embedded`` for SmolLM2-135M."""

    model_config = ConfigDict(extra="forbid")

    path: str = "embedded"
    served_name: str = "smollm2"


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8765
    device: str = Field(default="auto", description="auto | cpu | cuda")
    max_model_len: int = 4096
    enforce_eager: bool = True
    kv_cache_gib: int = 2
    dtype: str = Field(default="auto", description="vLLM --dtype; auto: float32 on CPU, bfloat16 on CUDA")
    enable_lora: bool = False
    max_lora_rank: int = 16
    tool_call_parser: str | None = Field(default="hermes", description="vLLM tool parser; null disables auto tool choice")
    startup_timeout_s: float = 600.0
    extra_args: list[str] = Field(default_factory=list)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "run"
    root: str = "runs"
    seed: int = 0
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        if level.upper() not in LOG_LEVELS:
            raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LOG_LEVELS)}")
        return level.upper()


class LoopToolConfig(BaseModel):
    """The whole recipe. Area sections are validated by their registered models."""

    model_config = ConfigDict(extra="allow")

    run: RunSettings = Field(default_factory=RunSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    roles: RolesSettings = Field(default_factory=RolesSettings)

    def section(self, name: str, model: type[SectionT]) -> SectionT:
        """The area section ``name`` validated as ``model`` (defaults when absent)."""
        raw = (self.model_extra or {}).get(name, {})
        if isinstance(raw, model):
            return raw
        try:
            return model.model_validate(raw or {})
        except ValidationError as error:
            raise ConfigError.from_problems(validation_problems(error, model, prefix=[name])) from None


KERNEL_SECTIONS = ("run", "model", "serve", "roles")

#: The area modules whose import registers a config section (imported on first use).
SECTION_MODULES: tuple[str, ...] = (
    "looptool.agents.backends.settings",
    "looptool.graphs.api_synthesis.settings",
    "looptool.graphs.dialogue.config",
    "looptool.training.settings",
    "looptool.benchmarks.runner.settings",
    "looptool.loop.settings",
    "looptool.loop.seed.settings",
)


def _check_section(name: str, model: type[BaseModel]) -> type[BaseModel]:
    if name in KERNEL_SECTIONS:
        raise ValueError(f"config section {name!r} belongs to the kernel")
    if not isinstance(model, type) or not issubclass(model, BaseModel):
        raise TypeError(f"config section {name!r}: {model!r} is not a pydantic model")
    return model


SECTIONS: Registry[type[BaseModel]] = Registry(
    "config section",
    builtin_modules=SECTION_MODULES,
    entry_point_group="looptool.config_sections",
    check=_check_section,
)


def register_section(name: str, model: type[SectionT]) -> type[SectionT]:
    """Register an area's config section so recipes may contain it."""
    SECTIONS.register(name, model)
    return model


# ---------------------------------------------------------------- error messages


def _unwrap(annotation: Any) -> list[Any]:
    """The member types of ``X | Y``, ``Optional[X]``, ``Annotated[X, ...]``."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) for member in _unwrap(arg)]
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any | None:
    """The type found one key (or list index) below ``annotation``, or None."""
    for member in _unwrap(annotation):
        origin = get_origin(member)
        if isinstance(member, type) and issubclass(member, BaseModel) and isinstance(part, str):
            for name, field in member.model_fields.items():
                if part in (name, field.alias):
                    return field.annotation
        elif origin in (list, tuple, set, frozenset, Sequence) and isinstance(part, int):
            args = get_args(member)
            return args[0] if args else None
        elif origin in (dict, Mapping) and isinstance(part, str):
            args = get_args(member)
            return args[1] if len(args) == 2 else None
    return None


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model that holds the key at ``loc`` (a pydantic error location)."""
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return None
    for member in _unwrap(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _dotted(parts: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in parts)


def unknown_key_problem(key: Sequence[str | int], known: Sequence[str], what: str = "key") -> ConfigProblem:
    """``unknown config key 'a.b'; did you mean 'a.c'?`` (the known keys listed when
    none is close)."""
    dotted = _dotted(key)
    parent = list(key[:-1])
    close = difflib.get_close_matches(str(key[-1]), sorted(known), n=3, cutoff=0.6)
    if close:
        options = " or ".join(repr(_dotted([*parent, name])) for name in close)
        return ConfigProblem(dotted, f"unknown config {what} {dotted!r}; did you mean {options}?")
    where = f" of {_dotted(parent)}" if parent else ""
    listing = ", ".join(sorted(known)) or "none"
    return ConfigProblem(dotted, f"unknown config {what} {dotted!r} (known {what}s{where}: {listing})")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validation_problems(
    error: ValidationError, model: type[BaseModel], prefix: Sequence[str] = ()
) -> list[ConfigProblem]:
    """Every error of a pydantic validation of ``model`` as a :class:`ConfigProblem`
    (keys dotted from the recipe's top, unknown keys with the closest known one)."""
    problems: list[ConfigProblem] = []
    for item in error.errors():
        loc = list(item["loc"])
        key = [*prefix, *loc]
        if item["type"] == "extra_forbidden":
            holder = _model_at(model, loc[:-1])
            known = _field_names(holder) if holder is not None else []
            problems.append(unknown_key_problem(key, known))
            continue
        value = item.get("input")
        got = f" (got {_short(value)})" if isinstance(value, str | int | float | bool) or value is None else ""
        dotted = _dotted(key) or "(top level)"
        problems.append(ConfigProblem(dotted, f"config key {dotted!r}: {item['msg']}{got}"))
    return problems


def _field_names(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


# ---------------------------------------------------------------- overrides


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    key, _, raw = text.partition("=")
    parts = [part for part in key.strip().split(".") if part]
    if not parts:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError(f"override {text!r}: value is not valid YAML: {error}") from None
    return parts, value


def _apply_override(data: dict[str, Any], override: str) -> None:
    parts, value = _parse_override(override)
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {override!r}: '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML) to a nested dict; every bad
    override is reported in one :class:`ConfigError`."""
    problems = _apply_all(data, overrides)
    if problems:
        raise ConfigError.from_problems(problems, "the overrides")
    return data


def _apply_all(data: dict[str, Any], overrides: list[str]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for override in overrides:
        try:
            _apply_override(data, override)
        except ConfigError as error:
            problems.append(ConfigProblem(override.partition("=")[0].strip(), str(error)))
    return problems


# ---------------------------------------------------------------- loading


def _read_recipe(path: str | Path) -> dict[str, Any]:
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"config file {source} does not exist")
    try:
        loaded = yaml.safe_load(read_text(source))
    except DataFileError as error:
        raise ConfigError(str(error)) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{source}: top level must be a mapping")
    return loaded or {}


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> LoopToolConfig:
    """Load a YAML recipe (or defaults), apply overrides, validate every section.

    Every registered section is known without importing its module first. All problems
    (bad overrides, unknown sections or keys at any depth, bad values) are raised together
    in one :class:`ConfigError`."""
    data = _read_recipe(path) if path is not None else {}
    problems = _apply_all(data, overrides or [])
    sections = {item.name: item.value for item in SECTIONS.entries()}
    known = [*KERNEL_SECTIONS, *sections]
    for key in list(data):
        if key not in known:
            problems.append(unknown_key_problem([str(key)], known, what="section"))
            del data[key]
    config: LoopToolConfig | None = None
    try:
        config = LoopToolConfig.model_validate(data)
    except ValidationError as error:
        problems.extend(validation_problems(error, LoopToolConfig))
    validated: dict[str, BaseModel] = {}
    for name, model in sections.items():
        if name not in data:
            continue
        try:
            validated[name] = model.model_validate(data[name] if data[name] is not None else {})
        except ValidationError as error:
            problems.extend(validation_problems(error, model, prefix=[name]))
    if problems:
        raise ConfigError.from_problems(problems, str(path) if path is not None else "the config")
    assert config is not None
    extra = config.model_extra if config.model_extra is not None else {}
    for name, section in validated.items():
        extra[name] = section.model_dump(mode="json")
    return config


def resolved_dict(config: LoopToolConfig) -> dict[str, Any]:
    """The full config with every registered section filled with its defaults."""
    data = config.model_dump(mode="json")
    for item in SECTIONS.entries():
        data[item.name] = config.section(item.name, item.value).model_dump(mode="json")
    return data


def dump_config(config: LoopToolConfig) -> str:
    return yaml.safe_dump(resolved_dict(config), sort_keys=False, allow_unicode=True)
