"""Model roles: the names come from the config model; a role's URL falls back to the serve section."""

from __future__ import annotations

import pytest

from looptool.config import RoleSettings, RolesSettings, load_config
from looptool.roles import ROLE_NAMES, bind_role, role_settings
from looptool.transport import LLMConfigError


def test_role_names_are_the_config_fields() -> None:
    assert ROLE_NAMES == tuple(RolesSettings.model_fields) == ("generator", "judge", "policy", "user_sim")


def test_role_settings_from_config_fall_back_to_serve_url() -> None:
    config = load_config(None, ["serve.port=9123", "roles.judge.base_urls=[http://h1:1/v1, http://h2:2]"])
    assert role_settings(config, "policy").base_urls == ["http://127.0.0.1:9123/v1"]
    assert role_settings(config, "judge").base_urls == ["http://h1:1/v1", "http://h2:2"]
    with pytest.raises(LLMConfigError, match="unknown model role 'jduge'"):
        role_settings(config, "jduge")


def test_bind_role() -> None:
    config = load_config(None, [])
    assert bind_role(config, "judge").name == "judge"
    assert bind_role(RoleSettings(base_urls=["http://h:1/v1"])).name == "model"
    with pytest.raises(LLMConfigError, match="no base_urls"):
        bind_role(RoleSettings())
    with pytest.raises(LLMConfigError, match="role_name"):
        bind_role(config)
