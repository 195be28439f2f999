"""The one real vLLM CPU server of a test session (session-scoped ``vllm_server``).

It serves the embedded SmolLM2-135M (converted on first use) with ``--enforce-eager`` on a
free port. A missing vLLM environment is a failure, never a silent skip: run
``scripts/setup.sh vllm``. Set ``LOOPTOOL_TEST_VLLM_URL=http://host:port/v1`` to reuse an
already running server serving ``smollm2`` instead of starting one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from looptool.embedded import ensure_embedded_model
from looptool.serve import VllmError, VllmServer, free_port, log_tail, vllm_python

SERVED_NAME = "smollm2"


@dataclass(frozen=True)
class ServerHandle:
    """What integration tests get: the OpenAI base URL and the served model name."""

    base_url: str
    model: str
    model_path: Path
    log_path: Path | None

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")


@pytest.fixture(scope="session")
def embedded_model_dir() -> Path:
    """The converted embedded model folder (converted once, then cached)."""
    return ensure_embedded_model()


@pytest.fixture(scope="session")
def vllm_server(embedded_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    reuse = os.environ.get("LOOPTOOL_TEST_VLLM_URL")
    if reuse:
        base_url = reuse.rstrip("/")
        try:
            names = [item["id"] for item in httpx.get(base_url + "/models", timeout=10).json()["data"]]
        except (httpx.HTTPError, ValueError, KeyError) as error:
            pytest.fail(f"LOOPTOOL_TEST_VLLM_URL={reuse} does not answer /models: {error}")
        if SERVED_NAME not in names:
            pytest.fail(f"LOOPTOOL_TEST_VLLM_URL={reuse} serves {names}, not {SERVED_NAME!r}")
        yield ServerHandle(base_url, SERVED_NAME, embedded_model_dir, None)
        return
    try:
        vllm_python("cpu")
    except VllmError as error:
        pytest.fail(f"integration tests need the vLLM CPU environment: {error}", pytrace=False)
    log_path = tmp_path_factory.mktemp("vllm") / "vllm.log"
    server = VllmServer(
        model_path=embedded_model_dir,
        served_name=SERVED_NAME,
        port=free_port(),
        device="cpu",
        enforce_eager=True,
        max_model_len=4096,
        kv_cache_gib=2,
        log_path=log_path,
        startup_timeout_s=900,
    )
    try:
        server.start()
    except VllmError as error:
        pytest.fail(f"the vLLM server did not start: {error}", pytrace=False)
    try:
        yield ServerHandle(server.base_url, server.model, embedded_model_dir, log_path)
    finally:
        alive = server.alive()
        server.stop()
        if not alive:
            print(f"vLLM died during the session; log tail:\n{log_tail(log_path)}")
from tests.training.conftest import tiny_model_dir  # noqa: E402,F401  (a pytest fixture shared with the training tests)
