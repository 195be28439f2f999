"""A hung test fails on its own and the run goes on (tests/conftest.py's per-test timeout)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

HANGING = '''
def test_python_loop():
    while True:
        pass

def test_big_integer_power():  # what a calculator without its exponent limit would do
    3 ** (10**9)

def test_after_the_hangs():
    assert True
'''


def test_every_test_gets_a_signal_timeout(request):
    marker = request.node.get_closest_marker("timeout")
    assert marker is not None
    if not request.config.getoption("timeout_method", default=None):
        assert marker.kwargs.get("method") == "signal"


@pytest.mark.timeout(120)
def test_a_hung_test_fails_and_the_run_goes_on(tmp_path):
    (tmp_path / "test_hang.py").write_text(HANGING, encoding="utf-8")
    env = {**os.environ, "LOOPTOOL_TEST_TIMEOUT_S": "1"}
    env.pop("PYTEST_TIMEOUT", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "-q", "-p", "no:cacheprovider",
         "-p", "tests.conftest", "--rootdir", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=100, check=False,
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.count("Timeout (>1.0s)") >= 2, done.stdout[-2000:]
    assert "2 failed, 1 passed" in done.stdout, done.stdout[-2000:]
