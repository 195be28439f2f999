"""The model roles of a recipe (``roles.<name>``) and the server each one talks to."""

from __future__ import annotations

from dataclasses import dataclass

from looptool.config import LoopToolConfig, RoleSettings, RolesSettings
from looptool.transport import LLMConfigError

ROLE_NAMES: tuple[str, ...] = tuple(RolesSettings.model_fields)
"""The configurable model roles, in the order :class:`~looptool.config.RolesSettings` declares them."""


@dataclass(frozen=True)
class BoundRole:
    """A role's settings (with base URLs) and the name its usage is recorded under."""

    name: str
    settings: RoleSettings


def role_settings(config: LoopToolConfig, role_name: str) -> RoleSettings:
    """``config.roles.<role_name>`` with empty ``base_urls`` filled from the serve section."""
    if role_name not in ROLE_NAMES:
        raise LLMConfigError(f"unknown model role {role_name!r} (known: {', '.join(ROLE_NAMES)})")
    role: RoleSettings = getattr(config.roles, role_name)
    if role.base_urls:
        return role
    serve = config.serve
    host = "127.0.0.1" if serve.host in ("0.0.0.0", "::") else serve.host
    return role.model_copy(update={"base_urls": [f"http://{host}:{serve.port}/v1"]})


def bind_role(role: RoleSettings | LoopToolConfig, role_name: str | None = None) -> BoundRole:
    """One role from a :class:`RoleSettings` (``role_name`` only labels usage; default
    ``model``) or from a whole recipe plus the role's name (then the serve URL fills in)."""
    if isinstance(role, LoopToolConfig):
        if role_name is None:
            raise LLMConfigError("a role from a whole config needs its role_name")
        return BoundRole(role_name, role_settings(role, role_name))
    if not role.base_urls:
        raise LLMConfigError(
            f"model role {role_name or 'model'!r} has no base_urls; set roles.<role>.base_urls "
            "or pass the whole config so the serve section's URL is used"
        )
    return BoundRole(role_name or "model", role)
