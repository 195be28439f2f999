"""YAML recipes with ``key.sub=value`` overrides, validated by pydantic.

The kernel owns the common sections (``run``, ``model``, ``serve``, ``roles``). Each area
(training, synthesis, benchmarks, loop) registers its own section model with
:func:`register_section`; unknown top-level keys are rejected with the closest known name.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SectionT = TypeVar("SectionT", bound=BaseModel)


class ConfigError(ValueError):
    """A recipe or override is invalid; the message names the key."""


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
    dtype: str = "bfloat16"
    enable_lora: bool = False
    max_lora_rank: int = 16
    tool_call_parser: str | None = Field(default="hermes", description="vLLM tool parser; null disables auto tool choice")
    startup_timeout_s: float = 600.0
    extra_args: list[str] = Field(default_factory=list)


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "run"
    root: str = "runs"
    seed: int = 0
    log_level: str = "INFO"


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
            raise ConfigError(_describe(error, prefix=name)) from None


_SECTIONS: dict[str, type[BaseModel]] = {}
KERNEL_SECTIONS = ("run", "model", "serve", "roles")


def register_section(name: str, model: type[SectionT]) -> type[SectionT]:
    """Register an area's config section so recipes may contain it."""
    if name in KERNEL_SECTIONS:
        raise ValueError(f"section {name!r} belongs to the kernel")
    existing = _SECTIONS.get(name)
    if existing is not None and existing is not model:
        raise ValueError(f"section {name!r} is already registered by {existing.__qualname__}")
    _SECTIONS[name] = model
    return model


def registered_sections() -> dict[str, type[BaseModel]]:
    return dict(_SECTIONS)


def _describe(error: ValidationError, prefix: str = "") -> str:
    lines = []
    for item in error.errors():
        key = ".".join([prefix, *[str(part) for part in item["loc"]]] if prefix else [str(p) for p in item["loc"]])
        lines.append(f"config key '{key}': {item['msg']}")
    return "; ".join(lines)


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


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML) to a nested dict."""
    for override in overrides:
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
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> LoopToolConfig:
    """Load a YAML recipe (or defaults), apply overrides, validate every section."""
    data: dict[str, Any] = {}
    if path is not None:
        source = Path(path)
        if not source.is_file():
            raise ConfigError(f"config file {source} does not exist")
        try:
            loaded = yaml.safe_load(source.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise ConfigError(f"{source}: not valid YAML: {error}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{source}: top level must be a mapping")
        data = loaded or {}
    apply_overrides(data, overrides or [])
    known = set(KERNEL_SECTIONS) | set(_SECTIONS)
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(known))})"
            raise ConfigError(f"unknown config section {key!r}{hint}")
    try:
        config = LoopToolConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
    for name, model in _SECTIONS.items():
        if name in data:
            # validate now so a bad recipe fails before any work starts
            validated = config.section(name, model)
            (config.model_extra or {})[name] = validated.model_dump(mode="json")
    return config


def resolved_dict(config: LoopToolConfig) -> dict[str, Any]:
    """The full config with every registered section filled with its defaults."""
    data = config.model_dump(mode="json")
    for name, model in _SECTIONS.items():
        data[name] = config.section(name, model).model_dump(mode="json")
    return data


def dump_config(config: LoopToolConfig) -> str:
    return yaml.safe_dump(resolved_dict(config), sort_keys=False, allow_unicode=True)
