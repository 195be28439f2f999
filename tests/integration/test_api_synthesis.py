"""End to end: synthesize a handful of APIs with the embedded model on the real vLLM CPU
server, through json_schema structured output. The small model breaks rules often; the point
is that the pipeline is real, whatever passes validation is well-formed against its own
sampled constraints, and every reject is explained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from looptool.config import load_config
from looptool.graphs.api_synthesis.rules import Rule, check_rules
from looptool.graphs.api_synthesis.run import (
    APIS_FILE,
    REJECTS_FILE,
    ApiReject,
    load_synthesized_apis,
    run_api_synthesis,
)
from looptool.graphs.api_synthesis.sampling import merge_request
from looptool.graphs.api_synthesis.trees import ContextLeaf, load_constraint_tree, load_context_tree
from looptool.jsonl import read_jsonl
from looptool.rundir import RunDir
from looptool.schema import ToolSpec
from looptool.traces import EventKind, TraceStore

pytestmark = pytest.mark.integration

N_APIS = 3


@pytest.mark.timeout(400)
def test_apis_end_to_end(vllm_server: Any, tmp_path: Path) -> None:
    config = load_config(
        None,
        [
            f"roles.generator.base_urls=[{vllm_server.base_url}]",
            f"roles.generator.model={vllm_server.model}",
            "roles.generator.timeout_s=240",
            "api_synth.seed=3",
            f"api_synth.concurrency={N_APIS}",
            "api_synth.max_attempts=2",
            "api_synth.max_tokens=800",
        ],
    )
    report = run_api_synthesis(config, tmp_path, N_APIS, [], progress=False)

    assert report.retryable_failures == 0, report.describe()
    assert report.accepted + report.rejected == N_APIS
    assert RunDir(tmp_path).is_done("api_synthesis")

    # every accepted API is a valid ToolSpec that satisfies the constraints it was sampled with
    context = load_context_tree()
    constraints = load_constraint_tree()
    leaves = {leaf.label(): leaf for leaf in context.leaves()}
    apis = load_synthesized_apis(tmp_path / APIS_FILE)
    assert len(apis) == report.accepted
    for api in apis:
        ToolSpec.model_validate(api.spec.model_dump())
        leaf = leaves[" > ".join(api.provenance.context_path)]
        assert isinstance(leaf, ContextLeaf)
        request = merge_request(leaf, constraints, api.provenance.constraint_path, index=api.provenance.index)
        assert check_rules(api.spec.model_dump(mode="json"), request) == []

    # every reject says which rule failed and why, attempt by attempt
    rejects = read_jsonl(tmp_path / REJECTS_FILE, ApiReject)
    assert len(rejects) == report.rejected
    rules = {rule.value for rule in Rule}
    for reject in rejects:
        assert reject.rule in rules and reject.reason.startswith("dropped after")
        assert len(reject.attempts) == 2
        for attempt in reject.attempts:
            assert attempt.violations and all(violation.message for violation in attempt.violations)
            assert attempt.raw_text or attempt.error

    # the structured output really came from the server: some attempt parsed as an ApiDraft
    candidates = [attempt.candidate for reject in rejects for attempt in reject.attempts]
    assert apis or any(candidate is not None for candidate in candidates)

    # every request is traced with its model calls and token counts
    store = TraceStore.for_run(tmp_path, readonly=True)
    try:
        traces = store.traces(kind="api_synthesis")
        assert len(traces) == N_APIS
        for info in traces:
            calls = store.events(info.trace_id, kind=EventKind.LLM_CALL)
            # token counts come from the server's usage (also for a reply cut off at max_tokens)
            assert calls and all((event.completion_tokens or 0) > 0 or "error" in event.data for event in calls)
            assert any((event.completion_tokens or 0) > 0 for event in calls)
            assert info.status in {"accepted", "rejected"}
    finally:
        store.close()
