"""End to end: simulate a handful of dialogues against the real vLLM CPU server with the
embedded model. The small model fails often; the point is that the pipeline is real, what
passes validation is well-formed, and every rejection is explained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from looptool.config import load_config
from looptool.graphs.dialogue.run import (
    DIALOGUES_FILE,
    REJECTS_FILE,
    SAMPLES_FILE,
    run_dialogue_synthesis,
)
from looptool.jsonl import read_jsonl
from looptool.schema import Dialogue, OriginKind, Role, Sample
from looptool.traces import EventKind, TraceStore

pytestmark = pytest.mark.integration

N_DIALOGUES = 3


def _overrides(base_url: str, model: str) -> list[str]:
    roles = []
    for role in ("generator", "judge", "user_sim", "policy"):
        roles += [f"roles.{role}.base_urls=[{base_url}]", f"roles.{role}.model={model}",
                  f"roles.{role}.sampling.max_tokens=200", f"roles.{role}.timeout_s=180"]
    return [
        *roles,
        "run.seed=7",
        "dialogue_synth.tools_offered={min: 1, max: 2}",
        "dialogue_synth.turns={min: 1, max: 1}",
        "dialogue_synth.max_assistant_steps=3",
        "dialogue_synth.parse_retries=0",
        "dialogue_synth.assistant_retries=0",
    ]


@pytest.mark.timeout(420)
def test_dialogues_end_to_end(vllm_server: Any, tmp_path: Path) -> None:
    import looptool.agents.backends.settings  # noqa: F401  (registers the tools section)
    import looptool.graphs.dialogue.config  # noqa: F401  (registers the dialogue_synth section)

    config = load_config(None, _overrides(vllm_server.base_url, vllm_server.model))
    report = run_dialogue_synthesis(config, tmp_path, n=N_DIALOGUES, concurrency=N_DIALOGUES)

    assert report.failed == 0, report.describe()
    assert report.finished == N_DIALOGUES
    dialogues = read_jsonl(tmp_path / DIALOGUES_FILE, Dialogue)
    assert sorted(d.metadata["index"] for d in dialogues) == list(range(N_DIALOGUES))

    # whatever was accepted is a well-formed Sample
    accepted = {d.id for d in dialogues if d.metadata["status"] == "accepted"}
    samples = read_jsonl(tmp_path / SAMPLES_FILE, Sample) if (tmp_path / SAMPLES_FILE).exists() else []
    assert report.samples == len(samples)
    for sample in samples:
        assert sample.lineage.origin == OriginKind.SEED
        assert sample.context and sample.context[0].role == Role.USER
        offered = {tool.name for tool in sample.tools}
        assert all(call.name in offered for call in sample.label_calls)
        assert sample.lineage.dialogue_id in accepted

    # every rejection is explained
    rejected = [d for d in dialogues if d.metadata["status"] == "rejected"]
    rejects = [json.loads(line) for line in (tmp_path / REJECTS_FILE).read_text().splitlines()] \
        if rejected else []
    assert len(rejects) == len(rejected)
    for record in rejects:
        assert record["stage"] in ("simulation", "rules", "judge", "error")
        assert record["reasons"] and all(reason.strip() for reason in record["reasons"])

    # every dialogue is traced, with real model calls and token counts from the server
    store = TraceStore.for_run(tmp_path, readonly=True)
    for dialogue in dialogues:
        info = store.trace(dialogue.id)
        assert info is not None and info.status == dialogue.metadata["status"]
        calls = store.events(dialogue.id, kind=EventKind.LLM_CALL)
        assert calls and calls[0].node == "planner"
        assert any((event.completion_tokens or 0) > 0 for event in calls)
    store.close()
