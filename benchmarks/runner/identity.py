"""A cell's identity: everything that changes what the model outputs.

Stored outputs are only reused, resumed or extended (``--limit``, more categories) by a run
with the same identity; a run with different settings into the same ``--out`` is refused
(:class:`CellMismatch`) instead of skipping the cell as finished or mixing outputs produced
under different settings.

The identity holds the benchmark's version and its output-affecting options, the endpoint's
settings except those that only say where and how fast to ask (:data:`TRANSPORT_FIELDS`) --
so the served model name, mode, sampling (temperature, top_p, max_tokens, seed), extra body
and prompt preamble are in --, a fingerprint of the mode's prompt rendering (a change of the
prompt code changes it), the benchmark's own prompt fingerprint
(:meth:`Benchmark.prompt_fingerprint`), and for a served checkpoint a fingerprint of its files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from looptool.benchmarks.base import Benchmark, ModelEndpoint
from looptool.benchmarks.runner.chat import render_request
from looptool.schema import Message, Role, ToolSpec, load_tool_spec

TRANSPORT_FIELDS = frozenset(
    {"label", "base_url", "api_key", "api_key_env", "concurrency", "timeout_s", "max_retries"}
)
"""Endpoint fields that do not change outputs (a served checkpoint gets a new port each run)."""

SMALL_FILE_BYTES = 1 << 20


class CellMismatch(ValueError):
    """The run asks a cell for other settings than its stored outputs were produced with."""


class CellIdentity(BaseModel):
    """What produced a cell's outputs (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    benchmark_version: str
    options: dict[str, Any]
    endpoint: dict[str, Any]
    prompt_fingerprint: str
    benchmark_prompt: str = ""
    checkpoint_fingerprint: str | None = None

    def differences(self, other: CellIdentity) -> list[str]:
        """``key: stored -> asked`` lines for every setting that differs."""
        mine, theirs = _flat(self.model_dump(mode="json")), _flat(other.model_dump(mode="json"))
        return [
            f"{key}: {json.dumps(mine.get(key))} -> {json.dumps(theirs.get(key))}"
            for key in sorted(set(mine) | set(theirs))
            if mine.get(key) != theirs.get(key)
        ]


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{name}."))
        else:
            flat[name] = value
    return flat


_PROBE_TOOL: ToolSpec = load_tool_spec(
    {
        "name": "probe.lookup",
        "description": "Look something up.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    }
)
_PROBE_MESSAGES = [
    Message(role=Role.SYSTEM, content="System text."),
    Message(role=Role.USER, content="Question?"),
]


def prompt_fingerprint(endpoint: ModelEndpoint) -> str:
    """A hash of how the endpoint's mode renders a fixed conversation with a fixed tool."""
    request = render_request(endpoint.mode, list(_PROBE_MESSAGES), [_PROBE_TOOL])
    text = json.dumps({"messages": request.messages, "tools": request.tools}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def checkpoint_fingerprint(path: str | None) -> str | None:
    """A hash of a checkpoint folder: every file's relative path, size and modification time,
    and the content of files under 1 MiB (configs, tokenizer, adapter settings). Retraining
    into the same folder changes it; ``embedded`` is the packaged model."""
    if path is None or path == "embedded":
        return path
    folder = Path(path)
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for file in sorted(item for item in folder.rglob("*") if item.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        if stat.st_size < SMALL_FILE_BYTES:
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def cell_identity(
    benchmark: Benchmark, endpoint: ModelEndpoint, checkpoint: str | None = None
) -> CellIdentity:
    """The identity of ``endpoint`` x ``benchmark`` (options already validated)."""
    options = benchmark.options.model_dump(mode="json")
    for name in benchmark.output_neutral_options:
        options.pop(name, None)
    settings = {key: value for key, value in endpoint.model_dump(mode="json").items() if key not in TRANSPORT_FIELDS}
    return CellIdentity(
        benchmark_version=benchmark.version,
        options=options,
        endpoint=settings,
        prompt_fingerprint=prompt_fingerprint(endpoint),
        benchmark_prompt=benchmark.prompt_fingerprint(endpoint.mode),
        checkpoint_fingerprint=checkpoint_fingerprint(checkpoint),
    )
