"""Serving each iteration's policy with vLLM: hot-load LoRA adapters, restart only on a new base.

Iteration ``j`` trains on iteration ``j-1``'s merged model, so its LoRA adapter belongs to
*that* base. :class:`PolicyServer` keeps one vLLM server; asked for ``(base, adapter)`` it
restarts only when the base differs from the one it serves, and it refuses to load an adapter
whose ``adapter_config.json`` names another base (an adapter on the wrong base answers, but
as a different model).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from looptool.config import ServeSettings
from looptool.serve import VllmError, VllmServer

log = logging.getLogger(__name__)


class AdapterBaseMismatch(VllmError):
    """An adapter was trained on another base than the one served."""


@dataclass(frozen=True)
class ServedPolicy:
    """Where the policy answers: the OpenAI base URL and the model name to ask for."""

    base_url: str
    model: str
    base: str
    adapter: str | None = None


@dataclass
class ServingTimes:
    """Seconds spent starting servers and hot-loading adapters (the loop report shows them)."""

    starts: list[float] = field(default_factory=list)
    adapter_loads: list[float] = field(default_factory=list)


def adapter_base(adapter: str | Path) -> Path | None:
    """The base model folder an adapter was trained on (``None`` when it does not say)."""
    config_path = Path(adapter) / "adapter_config.json"
    if not config_path.is_file():
        raise VllmError(f"{adapter} is not a LoRA adapter folder (no adapter_config.json)")
    data = json.loads(config_path.read_text(encoding="utf-8"))
    named = data.get("base_model_name_or_path")
    return Path(named).resolve() if named else None


class PolicyServer:
    """One vLLM server for the policy; use as a context manager."""

    def __init__(self, serve: ServeSettings, *, served_name: str, log_dir: Path) -> None:
        self.serve_settings = serve
        self.served_name = served_name
        self.log_dir = log_dir
        self.times = ServingTimes()
        self._server: VllmServer | None = None
        self._base: Path | None = None
        self._adapters: dict[str, Path] = {}

    def __enter__(self) -> PolicyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> Path | None:
        return self._base

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._server, self._base, self._adapters = None, None, {}

    def _ensure_base(self, base: Path, *, needs_lora: bool) -> VllmServer:
        server = self._server
        if server is not None and self._base == base and (server.enable_lora or not needs_lora) and server.alive():
            return server
        if server is not None:
            log.info("policy base changes (%s -> %s): restarting vLLM", self._base, base)
            self.stop()
        # LoRA only when an adapter is served: vLLM 0.32 built with --enable-lora crashes on
        # prompt_logprobs even for base-model requests (measured on CPU)
        settings = self.serve_settings.model_copy(update={"enable_lora": needs_lora})
        log_name = f"vllm-{time.strftime('%Y%m%d-%H%M%S')}-{len(self.times.starts) + 1}.log"
        server = VllmServer.from_settings(
            settings, model_path=base, served_name=self.served_name, log_path=self.log_dir / log_name
        )
        started = time.perf_counter()
        server.start()
        self.times.starts.append(time.perf_counter() - started)
        self._server, self._base, self._adapters = server, base, {}
        return server

    def policy(self, base: str | Path, adapter: str | Path | None = None, *, name: str = "policy") -> ServedPolicy:
        """Serve ``base`` (+ ``adapter`` hot-loaded as ``name``); returns where to ask."""
        base_path = Path(base).resolve()
        if adapter is not None:
            trained_on = adapter_base(adapter)
            if trained_on is not None and trained_on != base_path:
                raise AdapterBaseMismatch(
                    f"adapter {adapter} was trained on {trained_on}, not on {base_path}; serve its own base"
                )
        server = self._ensure_base(base_path, needs_lora=adapter is not None)
        if adapter is None:
            return ServedPolicy(base_url=server.base_url, model=server.model, base=str(base_path))
        adapter_path = Path(adapter).resolve()
        if self._adapters.get(name) != adapter_path:
            if name in self._adapters:
                server.unload_lora_adapter(name)
            started = time.perf_counter()
            server.load_lora_adapter(name, adapter_path)
            self.times.adapter_loads.append(time.perf_counter() - started)
            self._adapters[name] = adapter_path
        return ServedPolicy(base_url=server.base_url, model=name, base=str(base_path), adapter=str(adapter_path))

    def base_model(self) -> ServedPolicy:
        """The served base itself (agent roles such as the judge ask for it by its served name)."""
        if self._server is None or self._base is None:
            raise VllmError("no policy server is running")
        return ServedPolicy(base_url=self._server.base_url, model=self._server.model, base=str(self._base))
