# The two commands of the README. Each installs what it needs (idempotently) first.
.PHONY: smoke test setup

setup:
	scripts/setup.sh main vllm bfcl browser

smoke: setup
	.venv/bin/looptool run --config configs/smoke.yaml

test: setup
	scripts/test.sh
