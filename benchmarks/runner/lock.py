"""One writer per run folder: ``looptool eval``/``sweep`` hold an exclusive lock on
``<out>/.looptool.lock`` while they run, so two runs never append to the same cells."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import IO

from looptool.errors import UserError

LOCK_NAME = ".looptool.lock"


class RunFolderBusy(UserError):
    """Another process holds the run folder's lock."""


class RunFolderLock:
    """``with RunFolderLock(path):`` -- creates ``path`` if needed and holds its lock (released
    by the OS when the process dies, so a killed run never leaves a stale lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path / LOCK_NAME
        self._stream: IO[str] | None = None

    def __enter__(self) -> RunFolderLock:
        self.path.mkdir(parents=True, exist_ok=True)
        stream = self.file.open("a+", encoding="utf-8")
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.seek(0)
            holder = stream.read().strip() or "unknown"
            stream.close()
            raise RunFolderBusy(
                f"{self.path} is being written by another looptool eval/sweep (pid {holder}); "
                "wait for it to finish or choose another --out"
            ) from None
        stream.seek(0)
        stream.truncate()
        stream.write(str(os.getpid()))
        stream.flush()
        self._stream = stream
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._stream is not None:
            fcntl.flock(self._stream.fileno(), fcntl.LOCK_UN)
            self._stream.close()
            self._stream = None
