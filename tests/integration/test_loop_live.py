"""A tiny loop run against the session's real vLLM server (embedded SmolLM2): the policy's
completions and label perplexities (``prompt_logprobs``), the judge (JGLV, both orders) and the
generator (EDDE, ``json_schema`` structured output) and the step-judge validation are real
model calls; training is real TRL GRPO on the tiny random policy (which shares SmolLM2's
tokenizer). The session server keeps serving SmolLM2 itself: serving each trained checkpoint
(a vLLM restart per iteration) is what ``make smoke`` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from looptool.config import load_config
from looptool.jsonl import read_jsonl
from looptool.loop.controller import LoopRunner
from looptool.loop.records import IterationSummary, JudgeRecord, ProbeRecord
from looptool.loop.serving import ServedPolicy
from looptool.rundir import RunDir
from looptool.schema import Sample

pytestmark = pytest.mark.integration


class SessionServer:
    """Every policy is answered by the session's server (one server per test session)."""

    def __init__(self, base_url: str, model: str) -> None:
        self.base_url, self.model = base_url, model

    def __enter__(self) -> SessionServer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def stop(self) -> None:
        return None

    def policy(self, base: str | Path, adapter: str | Path | None = None, *, name: str = "policy") -> ServedPolicy:
        return ServedPolicy(base_url=self.base_url, model=self.model, base=str(base))


class SessionLoopRunner(LoopRunner):
    def __init__(self, *args: Any, server: SessionServer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_server = server

    def open_server(self) -> Any:
        return self.session_server


def test_one_loop_iteration_on_the_real_server(vllm_server: Any, tiny_model_dir: Path, tmp_path: Path) -> None:
    host_port = vllm_server.base_url
    config = load_config(None, [
        f"model.path={tiny_model_dir}", f"serve.port={host_port.rsplit(':', 1)[1].split('/')[0]}",
        "seed.sources.curated.tool_sets=[calculator]", "seed.sources.curated.categories=[single, parallel]",
        "seed.heldout_fraction=0.2",
        "loop.iterations=1", "loop.budget=8", "loop.heldout_limit=4", "loop.evaluate_benchmarks=false",
        "loop.progress=false", "loop.probe.max_tokens=48",
        "jglv.orders=both", "edde.generator=both", "edde.k=2",
        "roles.judge.sampling.max_tokens=200", "roles.generator.sampling.max_tokens=400",
        "train.mode=full", "train.max_steps=1", "train.num_generations=2", "train.prompts_per_step=2",
        "train.max_completion_tokens=8", "train.max_prompt_tokens=1024", "train.device=cpu", "train.bf16=false",
        "train.save_steps=1", "train.rewards=[tool_match]",
    ])
    run = RunDir.create(config, tmp_path / "run")
    runner = SessionLoopRunner(config, run, server=SessionServer(vllm_server.base_url, vllm_server.model))
    report = runner.run_all()

    it1 = run.path / "loop" / "iter_1"
    probes = read_jsonl(it1 / "probe" / "probe.jsonl", ProbeRecord)
    assert len(probes) == 8 and all(p.perplexity is not None and p.perplexity > 1.0 for p in probes)
    summary = IterationSummary.model_validate_json((it1 / "iteration.json").read_text())
    assert summary.probed == 8 and summary.mastered + summary.mismatched == 8
    verdicts = read_jsonl(it1 / "judge" / "verdicts.jsonl", JudgeRecord)
    assert len(verdicts) == summary.mismatched
    assert summary.tokens_by_role.get("policy", 0) > 0
    if summary.mismatched:
        assert summary.tokens_by_role.get("judge", 0) > 0 or summary.decided_by_execution == summary.mismatched
    nxt = read_jsonl(it1 / "compose" / "next.jsonl", Sample)
    assert len(nxt) == summary.next_size <= 8 and len({s.id for s in nxt}) == len(nxt)
    assert report.base_heldout_accuracy is not None and summary.heldout_accuracy is not None
