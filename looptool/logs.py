"""Structured logging: rich console output plus one JSON-lines log per run."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

console = Console(stderr=True)


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record; ``extra={"data": {...}}`` fields are kept."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            payload.update(data)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO", log_file: Path | None = None) -> None:
    """Console logging through rich; with ``log_file``, JSON lines there too."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    for handler in list(root.handlers):
        if getattr(handler, "_looptool", False):
            root.removeHandler(handler)
            handler.close()
    console_handler = RichHandler(console=console, show_path=False, rich_tracebacks=True)
    console_handler.setLevel(level.upper())
    console_handler._looptool = True  # type: ignore[attr-defined]
    root.addHandler(console_handler)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(JsonLinesFormatter())
        file_handler._looptool = True  # type: ignore[attr-defined]
        root.addHandler(file_handler)
    for noisy in ("httpx", "httpcore", "openai", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
