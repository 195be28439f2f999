#!/usr/bin/env bash
# The whole test suite: lint (ruff, mypy), then unit tests and the integration tests that
# start one real vLLM CPU server for the session. Extra arguments go to pytest
# (e.g. scripts/test.sh -m "not integration"); LOOPTOOL_SKIP_LINT=1 skips the lint step.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${LOOPTOOL_SKIP_LINT:-0}" != 1 ]]; then
  echo "[test] ruff"
  .venv/bin/ruff check .
  echo "[test] mypy"
  scripts/typecheck.sh
fi
echo "[test] pytest"
exec .venv/bin/python -m pytest -q --durations=20 "$@"
