"""The raw completions client: model list, prompt log-probabilities and a continuation's perplexity."""

from __future__ import annotations

import asyncio
import math

import pytest

from looptool.completions import OpenAICompatClient
from looptool.usage import UsageRecorder
from tests.fake_openai_server import COMPLETIONS_PATH, FakeOpenAIServer, role_settings


def test_prompt_logprobs_and_continuation_score() -> None:
    with FakeOpenAIServer(models=["smollm2", "iter1"]) as server:
        usage = UsageRecorder()

        async def run() -> tuple[list[str], float, int]:
            async with OpenAICompatClient.for_role(role_settings(server.base_url), "policy", usage=usage) as client:
                names = await client.models()
                score = await client.continuation_logprobs("ab", "cd")
                return names, score.perplexity, len(score.token_logprobs)

        names, perplexity, count = asyncio.run(run())
        assert names == ["smollm2", "iter1"]
        # fake server: position i (1-based after the first token) gets logprob -0.5 * i;
        # "cd" are positions 2 and 3 of "abcd" -> logprobs -1.0 and -1.5
        assert count == 2
        assert perplexity == pytest.approx(math.exp(1.25))
        (completion,) = server.bodies(COMPLETIONS_PATH)
        assert completion["prompt"] == [ord(ch) for ch in "abcd"]
        assert completion["prompt_logprobs"] == 0
        assert any(record.endpoint == "/tokenize" for record in usage.records("policy"))
