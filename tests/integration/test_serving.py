"""The real vLLM CPU server on the embedded SmolLM2-135M: chat, json_schema structured
output, prompt log-probabilities, and the client factory end to end."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import httpx
import jsonschema
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from looptool.agents.chat_models import make_chat_model
from looptool.completions import OpenAICompatClient
from looptool.config import RoleSettings, SamplingSettings
from looptool.embedded import cache_problem
from looptool.usage import UsageRecorder

from .conftest import ServerHandle

pytestmark = pytest.mark.integration

CITY_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 1, "maxLength": 40},
        "country": {"type": "string", "enum": ["France", "Italy", "Spain"]},
        "population_millions": {"type": "integer", "minimum": 0, "maximum": 50},
    },
    "required": ["city", "country", "population_millions"],
    "additionalProperties": False,
}


def role(server: ServerHandle, **sampling: float | int) -> RoleSettings:
    return RoleSettings(
        base_urls=[server.base_url], model=server.model, timeout_s=120, max_retries=1,
        sampling=SamplingSettings(**{"temperature": 0.0, "max_tokens": 48, **sampling}),  # type: ignore[arg-type]
    )


def test_embedded_cache_is_complete(embedded_model_dir: Path) -> None:
    assert cache_problem(embedded_model_dir) is None
    config = json.loads((embedded_model_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 30 and config["vocab_size"] == 49152


def test_models_lists_the_served_name(vllm_server: ServerHandle) -> None:
    data = httpx.get(vllm_server.base_url + "/models", timeout=30).json()
    assert vllm_server.model in [item["id"] for item in data["data"]]
    assert httpx.get(vllm_server.root_url + "/health", timeout=30).status_code == 200


def test_chat_completion(vllm_server: ServerHandle) -> None:
    response = httpx.post(
        vllm_server.base_url + "/chat/completions",
        json={"model": vllm_server.model, "messages": [{"role": "user", "content": "What is the capital of France?"}],
              "max_tokens": 24, "temperature": 0},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "Paris" in body["choices"][0]["message"]["content"]
    assert body["usage"]["prompt_tokens"] > 10 and 0 < body["usage"]["completion_tokens"] <= 24


def test_json_schema_structured_completion_validates(vllm_server: ServerHandle) -> None:
    response = httpx.post(
        vllm_server.base_url + "/chat/completions",
        json={
            "model": vllm_server.model,
            "messages": [{"role": "user", "content": "Describe one European city as JSON."}],
            "max_tokens": 80, "temperature": 0.7, "seed": 1,
            "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": CITY_SCHEMA, "strict": True}},
        },
        timeout=120,
    )
    assert response.status_code == 200, response.text
    content = response.json()["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), CITY_SCHEMA)


def test_prompt_logprobs_for_a_label(vllm_server: ServerHandle) -> None:
    async def score() -> tuple[int, list[float], float, float]:
        async with OpenAICompatClient.for_role(role(vllm_server), "policy") as client:
            context = await client.tokenize_chat([{"role": "user", "content": "What is the capital of France?"}])
            label = await client.tokenize("The capital of France is Paris.<|im_end|>")
            good = await client.continuation_logprobs(context, label)
            bad = await client.continuation_logprobs(context, "Purple walruses knit the ocean quietly.<|im_end|>")
            return len(label), [item.logprob for item in good.token_logprobs], good.perplexity, bad.perplexity

    label_tokens, logprobs, good_ppl, bad_ppl = asyncio.run(score())
    assert len(logprobs) == label_tokens >= 7
    assert all(value <= 0.0 for value in logprobs)
    assert math.isfinite(good_ppl) and 1.0 <= good_ppl < bad_ppl


def test_raw_prompt_logprobs_shape(vllm_server: ServerHandle) -> None:
    async def run() -> list[object]:
        async with OpenAICompatClient.for_role(role(vllm_server)) as client:
            return list(await client.prompt_logprobs("The capital of France is Paris."))

    positions = asyncio.run(run())
    assert positions[0] is None and len(positions) >= 7 and all(item is not None for item in positions[1:])


class City(BaseModel):
    city: str = Field(max_length=40)
    country: str


def test_client_factory_against_the_real_server(vllm_server: ServerHandle) -> None:
    usage = UsageRecorder()
    # the first URL is dead: the balancer must fail over and record the failed attempt
    settings = role(vllm_server)
    settings = settings.model_copy(update={"base_urls": ["http://127.0.0.1:9/v1", vllm_server.base_url], "max_retries": 2})
    model = make_chat_model(settings, "generator", usage=usage)

    reply = model.invoke([HumanMessage("What is the capital of France?")])
    assert "Paris" in str(reply.content)
    structured = model.with_structured_output(City, method="json_schema")
    city = structured.invoke([SystemMessage("Answer in JSON."), HumanMessage("Name the capital of Italy and its country.")])
    assert isinstance(city, City) and city.city

    async def many() -> list[str]:
        replies = await asyncio.gather(*[model.ainvoke([HumanMessage(f"Say the number {i}.")]) for i in range(4)])
        return [str(item.content) for item in replies]

    assert len(asyncio.run(many())) == 4
    ok = [record for record in usage.records("generator") if record.ok]
    assert len(ok) == 6
    assert all(record.prompt_tokens > 0 and record.completion_tokens > 0 and record.latency_s > 0 for record in ok)
    summary = usage.summary().roles["generator"]
    assert summary.prompt_tokens == sum(record.prompt_tokens for record in usage.records())
    assert summary.failed_calls == len([record for record in usage.records() if not record.ok])


def test_served_weights_match_transformers(vllm_server: ServerHandle, embedded_model_dir: Path) -> None:
    """vLLM (bf16) and transformers (fp32) score the same text alike: the conversion (weights,
    RoPE, tokenizer) is what both engines read."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    model = AutoModelForCausalLM.from_pretrained(embedded_model_dir, dtype=torch.float32)
    ids = tokenizer("The capital of France is Paris. It is known for the Eiffel Tower and its museums.").input_ids
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
    reference = [logprobs[index - 1, ids[index]].item() for index in range(1, len(ids))]

    async def served() -> list[float]:
        async with OpenAICompatClient.for_role(role(vllm_server)) as client:
            positions = await client.prompt_logprobs(ids)
        return [item.logprob for item in positions[1:] if item is not None]

    scored = asyncio.run(served())
    assert len(scored) == len(reference)
    differences = [abs(a - b) for a, b in zip(reference, scored, strict=True)]
    assert sum(differences) / len(differences) < 0.15 and max(differences) < 0.75
