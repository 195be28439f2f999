"""`looptool eval` on BFCL `simple` against the session's real vLLM server (``vllm_server``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from looptool.cli import main

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["prompt_hermes", "function_calling"])
def test_eval_simple_against_real_server(vllm_server, tmp_path: Path, mode: str) -> None:
    out = tmp_path / "eval"
    arguments = [
        "eval", "-k", "simple", "--limit", "3", "--mode", mode,
        "--base-url", vllm_server.base_url, "--model", vllm_server.model,
        "--max-tokens", "96", "--concurrency", "3", "--out", str(out),
    ]
    assert main(arguments) == 0
    cell = out / "cells" / f"{vllm_server.model}__{mode}" / "bfcl_v3"
    outputs = [json.loads(line) for line in (cell / "outputs.jsonl").read_text().splitlines()]
    assert sorted(output["entry_id"] for output in outputs) == ["simple_0", "simple_1", "simple_2"]
    for output in outputs:
        reply = output["turns"][0]["replies"][0]
        assert reply["error"] is None, reply["error"]
        assert reply["raw"] or reply["tool_calls"], "the server returned an empty completion"
        assert reply["completion_tokens"] > 0
    (result,) = json.loads((out / "results.json").read_text())
    assert result["complete"] and result["requests"] == 3
    simple = next(row for row in result["rows"] if row["name"] == "simple")
    assert simple["count"] == 3 and 0.0 <= simple["score"] <= 1.0
    assert main(arguments) == 0  # finished: nothing is re-queried
    assert json.loads((out / "results.json").read_text())[0]["requests"] == 3
