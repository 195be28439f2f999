"""The main-environment side of the BFCL worker: finds ``.venvs/bfcl``, starts
``benchmarks/bfcl/worker.py`` there, and exchanges JSON lines with it (thread-safe)."""

from __future__ import annotations

import asyncio
import atexit
import itertools
import json
import logging
import os
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_SCRIPT = Path(__file__).resolve().with_name("worker.py")
DEFAULT_PYTHON = REPO_ROOT / ".venvs" / "bfcl" / "bin" / "python"
PYTHON_ENV_VAR = "LOOPTOOL_BFCL_PYTHON"


class BfclWorkerError(RuntimeError):
    """The BFCL worker failed (crashed, or a command raised there)."""


def find_bfcl_python(explicit: str | None = None) -> Path:
    """The interpreter of the BFCL environment: ``explicit``, else ``$LOOPTOOL_BFCL_PYTHON``,
    else ``.venvs/bfcl/bin/python`` of this checkout."""
    candidate = Path(explicit or os.environ.get(PYTHON_ENV_VAR) or DEFAULT_PYTHON)
    if not candidate.exists():
        raise FileNotFoundError(
            f"BFCL environment not found ({candidate} does not exist): "
            "build it with `scripts/setup.sh bfcl`"
        )
    return candidate


def check_data_dir(data_dir: str | None) -> Path | None:
    """Validate a user-given BFCL data folder (``None``: the package's own data)."""
    if data_dir is None:
        return None
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"BFCL data folder {path} does not exist")
    if not any(path.glob("BFCL_v3_*.json")):
        raise FileNotFoundError(f"BFCL data folder {path} holds no BFCL_v3_*.json files")
    return path


class BfclWorker:
    """One worker process, started on first use. ``call`` is synchronous and serialised by
    a lock; ``acall`` runs it in a thread for use from the runner's event loop."""

    def __init__(self, python: str | None = None, data_dir: str | None = None) -> None:
        self.python = find_bfcl_python(python)
        self.data_dir = check_data_dir(data_dir)
        self._process: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self._lock = threading.Lock()
        self._next_id = 0
        self._sessions = itertools.count(1)

    def new_session(self) -> str:
        """A fresh id for a multi-turn run's backend instances on this worker."""
        with self._lock:
            return str(next(self._sessions))

    def _start(self) -> subprocess.Popen[str]:
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - closed in close()
        scratch = Path(tempfile.gettempdir()) / "looptool-bfcl-project"
        scratch.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "BFCL_PROJECT_ROOT": str(scratch), "PYTHONUNBUFFERED": "1"}
        env.pop("PYTHONPATH", None)
        log.debug("starting BFCL worker %s", self.python)
        return subprocess.Popen(
            [str(self.python), str(WORKER_SCRIPT), str(self.data_dir or "")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
            env=env,
            bufsize=1,
        )

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-2000:]

    def call(self, command: str, **arguments: Any) -> Any:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = self._start()
            process = self._process
            assert process.stdin is not None and process.stdout is not None
            self._next_id += 1
            request = {"id": self._next_id, "cmd": command, **arguments}
            try:
                process.stdin.write(json.dumps(request, ensure_ascii=False) + "\n")
                process.stdin.flush()
                line = process.stdout.readline()
            except (BrokenPipeError, OSError):
                line = ""
            if not line:
                process.kill()
                self._process = None
                raise BfclWorkerError(f"the BFCL worker died during {command!r}:\n{self._stderr_tail()}")
        answer = json.loads(line)
        if not answer.get("ok"):
            message = str(answer.get("error", "unknown error"))
            if message.startswith("FileNotFoundError: "):
                raise FileNotFoundError(message.removeprefix("FileNotFoundError: "))
            raise BfclWorkerError(f"BFCL worker {command!r} failed: {message}\n{answer.get('trace', '')}")
        return answer.get("result")

    async def acall(self, command: str, **arguments: Any) -> Any:
        return await asyncio.to_thread(self.call, command, **arguments)

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
            if process is not None and process.poll() is None:
                assert process.stdin is not None
                process.stdin.close()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process is not None and process.stdout is not None:
                process.stdout.close()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None


_SHARED: dict[tuple[str, str], BfclWorker] = {}
_SHARED_LOCK = threading.Lock()


def shared_worker(python: str | None = None, data_dir: str | None = None) -> BfclWorker:
    """One warm worker per (environment, data folder) for the whole process (its checker
    import takes seconds); closed at interpreter exit."""
    key = (str(find_bfcl_python(python)), str(check_data_dir(data_dir) or ""))
    with _SHARED_LOCK:
        worker = _SHARED.get(key)
        if worker is None:
            worker = _SHARED[key] = BfclWorker(python, data_dir)
            atexit.register(worker.close)
        return worker
