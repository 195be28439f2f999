#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the integration tests that start a real
# vLLM CPU server once per session.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -q "$@"
