#!/usr/bin/env bash
# mypy over the installed layout. mypy does not follow setuptools' package-dir mapping
# (agents/ -> looptool.agents, ...), so it checks a tree of links laid out as the installed
# package is (build/typecheck/looptool/...).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
typecheck=build/typecheck
rm -rf "$typecheck" && mkdir -p "$typecheck/looptool"
for entry in looptool/*; do
  [[ "$(basename "$entry")" == __pycache__ ]] || ln -s "$ROOT/$entry" "$typecheck/looptool/"
done
for folder in agents graphs training loop benchmarks; do
  ln -s "$ROOT/$folder" "$typecheck/looptool/$folder"
done
cd "$typecheck"
exec "$ROOT/.venv/bin/mypy" --config-file "$ROOT/pyproject.toml" --cache-dir "$ROOT/.mypy_cache" -p looptool "$@"
