"""Per-call token and latency accounting for model calls (thread- and asyncio-safe).

Every attempt the HTTP transport (:mod:`looptool.transport`) makes is one :class:`UsageRecord`."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

from pydantic import BaseModel, Field

from looptool.jsonl import write_jsonl


class UsageRecord(BaseModel):
    """One HTTP call to a model server (one attempt; retries are separate records)."""

    role: str
    model: str
    base_url: str
    endpoint: str = Field(description="request path, e.g. /chat/completions")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float
    status: int | None = Field(default=None, description="HTTP status; None on connection error")
    ok: bool
    error: str | None = None
    attempt: int = 1
    time: float = Field(default_factory=time.time)


class RoleUsage(BaseModel):
    """Totals for one role."""

    calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_latency_s: float = 0.0
    mean_latency_s: float = 0.0
    p95_latency_s: float = 0.0


class UsageSummary(BaseModel):
    roles: dict[str, RoleUsage]
    total_calls: int
    total_prompt_tokens: int
    total_completion_tokens: int


class UsageRecorder:
    """Collects :class:`UsageRecord` s from any thread or event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[UsageRecord] = []

    def record(self, record: UsageRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self, role: str | None = None) -> list[UsageRecord]:
        with self._lock:
            items = list(self._records)
        return [item for item in items if role is None or item.role == role]

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def summary(self) -> UsageSummary:
        """Per-role totals (successful calls only count towards latency statistics)."""
        records = self.records()
        roles: dict[str, RoleUsage] = {}
        for name in sorted({item.role for item in records}):
            mine = [item for item in records if item.role == name]
            latencies = sorted(item.latency_s for item in mine if item.ok)
            roles[name] = RoleUsage(
                calls=len(mine),
                failed_calls=sum(not item.ok for item in mine),
                prompt_tokens=sum(item.prompt_tokens for item in mine),
                completion_tokens=sum(item.completion_tokens for item in mine),
                total_latency_s=sum(item.latency_s for item in mine),
                mean_latency_s=statistics.fmean(latencies) if latencies else 0.0,
                p95_latency_s=latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else 0.0,
            )
        return UsageSummary(
            roles=roles,
            total_calls=len(records),
            total_prompt_tokens=sum(item.prompt_tokens for item in records),
            total_completion_tokens=sum(item.completion_tokens for item in records),
        )

    def write_jsonl(self, path: str | Path) -> int:
        """All records as JSON lines (atomic write); returns the count."""
        return write_jsonl(path, self.records())
