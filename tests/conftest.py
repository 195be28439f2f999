"""Suite-wide: every test runs under a per-test timeout (pytest-timeout's ``signal`` method,
which raises inside the hung test, even in a long big-integer power, so the test fails and
the run goes on; the ``thread`` method could only dump stacks and end the whole run).

Unit tests get :data:`DEFAULT_TIMEOUT_S`, ``integration``/``slow`` tests (servers, training)
:data:`LONG_TIMEOUT_S`; ``LOOPTOOL_TEST_TIMEOUT_S`` overrides the unit-test limit. A
``timeout`` marker on a test, ``--timeout``/``--timeout-method``, ``PYTEST_TIMEOUT`` or an
ini ``timeout`` take precedence.
"""

from __future__ import annotations

import os

import pytest

DEFAULT_TIMEOUT_S = 600.0
LONG_TIMEOUT_S = 3600.0
TIMEOUT_ENV = "LOOPTOOL_TEST_TIMEOUT_S"


def _timeout_configured(config: pytest.Config) -> bool:
    return (
        config.getoption("timeout", default=None) is not None
        or bool(os.environ.get("PYTEST_TIMEOUT"))
        or bool(config.getini("timeout"))
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.pluginmanager.hasplugin("timeout") or _timeout_configured(config):
        return
    method_chosen = config.getoption("timeout_method", default=None) or config.getini("timeout_method")
    method = {} if method_chosen else {"method": "signal"}
    unit_limit = float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)
    for item in items:
        if item.get_closest_marker("timeout") is not None:
            continue
        long = item.get_closest_marker("integration") or item.get_closest_marker("slow")
        item.add_marker(pytest.mark.timeout(LONG_TIMEOUT_S if long else unit_limit, **method))
