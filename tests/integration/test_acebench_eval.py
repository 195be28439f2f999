"""ACEBench normal entries through a real vLLM server (the session's ``vllm_server``)."""

from __future__ import annotations

import asyncio

import pytest

from looptool.benchmarks.acebench import AceBench
from looptool.benchmarks.base import EndpointMode, EntryOutput, EvalEntry, ModelEndpoint
from looptool.benchmarks.runner.chat import OpenAIChatModel
from looptool.config import SamplingSettings

pytestmark = pytest.mark.integration

#: short prompts (a few hundred tokens), so the embedded model's 4k context is never exceeded
ENTRY_IDS = ("en_normal_similar_api_14", "en_normal_single_turn_single_function_99")


def _entries(bench: AceBench) -> list[EvalEntry]:
    loaded = bench.load(["en_normal_similar_api", "en_normal_single_turn_single_function"])
    chosen = [entry for entry in loaded if entry.id in ENTRY_IDS]
    assert [entry.id for entry in chosen] == list(ENTRY_IDS)
    return chosen


async def _run_all(bench: AceBench, entries: list[EvalEntry], endpoint: ModelEndpoint) -> list[EntryOutput]:
    async with OpenAIChatModel(endpoint) as model:
        return list(await asyncio.gather(*(bench.run_entry(entry, model) for entry in entries)))


@pytest.mark.parametrize("mode", [EndpointMode.PROMPT_PYTHON, EndpointMode.FUNCTION_CALLING])
def test_normal_entries_against_real_server(vllm_server, mode: EndpointMode) -> None:
    bench = AceBench({"languages": ["en"]})
    entries = _entries(bench)
    endpoint = ModelEndpoint(
        base_url=vllm_server.base_url,
        model=vllm_server.model,
        mode=mode,
        sampling=SamplingSettings(temperature=0.0, max_tokens=96, seed=0),
        timeout_s=180,
    )
    outputs = asyncio.run(_run_all(bench, entries, endpoint))
    for entry, output in zip(entries, outputs, strict=True):
        assert output.entry_id == entry.id and output.requests == 1
        reply = output.replies[0]
        assert reply.error is None, reply.error
        assert reply.raw or reply.tool_calls, "the server returned an empty completion"
        stored = EntryOutput.model_validate_json(output.model_dump_json())
        score = bench.score(entry, stored)
        assert set(score.variant_scores) == {"upstream", "strict"}
        assert all(value in (0.0, 1.0) for value in score.variant_scores.values())
    summary = bench.summarize([bench.score(e, o) for e, o in zip(entries, outputs, strict=True)])
    assert {row.name for row in summary.rows if row.kind == "category"} == {
        "en_normal_similar_api",
        "en_normal_single_turn_single_function",
    }
