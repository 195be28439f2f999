"""Held-out ToolMatch accuracy after training: greedy decoding, scored by ``tool_match``.

Two backends. ``vllm`` (the default where vLLM is installed) serves the trained model with the
project's vLLM launcher and decodes through the loop's probing path
(:func:`looptool.loop.probe.probe_samples`: same prompt ids, same decoder, journaled); it is
what scales to long completions and large models. ``transformers`` runs ``generate`` in the
training process (tests, machines without vLLM).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from looptool.logs import console
from looptool.training.examples import GRPOExample
from looptool.training.rewards import score_tool_match

log = logging.getLogger(__name__)


class HeldoutPrediction(BaseModel):
    sample_id: str
    completion: str
    reward: float


class HeldoutResult(BaseModel):
    """ToolMatch accuracy on the held-out slice (``None`` when there was no slice)."""

    samples: int = 0
    accuracy: float | None = None
    seconds: float = 0.0
    predictions: list[HeldoutPrediction] = Field(default_factory=list)


def greedy_completions(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[dict[str, Any]]],
    *,
    max_new_tokens: int,
    batch_size: int,
) -> list[str]:
    """Greedy completions of chat prompts, in batches, left-padded."""
    import torch
    from rich.progress import Progress

    was_training = model.training
    model.eval()
    texts: list[str] = []
    device = next(model.parameters()).device
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("held-out greedy decode", total=len(prompts))
        for start in range(0, len(prompts), batch_size):
            batch = list(prompts[start : start + batch_size])
            rendered = [
                tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
                for messages in batch
            ]
            inputs = tokenizer(rendered, return_tensors="pt", padding=True, add_special_tokens=False)
            inputs = {key: value.to(device) for key, value in inputs.items()}
            with torch.inference_mode():
                output = model.generate(
                    **inputs,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                )
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            texts.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
            progress.advance(task, len(batch))
    if was_training:
        model.train()
    return texts


def heldout_accuracy(
    model: Any,
    tokenizer: Any,
    examples: Sequence[GRPOExample],
    *,
    max_new_tokens: int,
    batch_size: int,
) -> HeldoutResult:
    """Greedy-decode every held-out prompt and score it with the binary ToolMatch reward."""
    if not examples:
        return HeldoutResult()
    started = time.perf_counter()
    completions = greedy_completions(
        model,
        tokenizer,
        [example.prompt for example in examples],
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    predictions = [
        HeldoutPrediction(
            sample_id=example.sample_id,
            completion=text,
            reward=score_tool_match(text, example.label_kind, example.label_calls),
        )
        for example, text in zip(examples, completions, strict=True)
    ]
    accuracy = sum(item.reward for item in predictions) / len(predictions)
    seconds = time.perf_counter() - started
    log.info("held-out ToolMatch accuracy %.3f on %d samples (%.1f s)", accuracy, len(predictions), seconds)
    return HeldoutResult(
        samples=len(predictions), accuracy=accuracy, seconds=seconds, predictions=predictions
    )


async def served_heldout_accuracy(
    base_url: str,
    model: str,
    tokenizer: Any,
    examples: Sequence[GRPOExample],
    *,
    max_new_tokens: int,
    journal: Path,
    concurrency: int = 16,
) -> HeldoutResult:
    """Greedy-decode the held-out prompts on an OpenAI-compatible server (``base_url`` serves
    the trained model as ``model``) through the probing path, scored by ``tool_match``."""
    from looptool.completions import OpenAICompatClient
    from looptool.config import RoleSettings
    from looptool.loop.probe import ProbeSettings, ProbeTools, probe_samples

    if not examples:
        return HeldoutResult()
    started = time.perf_counter()
    settings = ProbeSettings(max_tokens=max_new_tokens, concurrency=concurrency, perplexity_of="none")
    client = OpenAICompatClient.for_role(RoleSettings(base_urls=[base_url], model=model), "heldout")
    try:
        records, summary = await probe_samples(
            examples, ProbeTools(client, tokenizer, settings), journal=journal, description="held-out"
        )
    finally:
        await client.aclose()
    if summary.failed:
        raise RuntimeError(f"{summary.failed} held-out requests failed: {'; '.join(summary.failures[:3])}")
    predictions = [
        HeldoutPrediction(sample_id=record.sample_id, completion=record.completion, reward=1.0 if record.matched else 0.0)
        for record in records
    ]
    accuracy = sum(item.reward for item in predictions) / len(predictions)
    seconds = time.perf_counter() - started
    log.info("held-out ToolMatch accuracy %.3f on %d samples via %s (%.1f s)", accuracy, len(predictions), base_url, seconds)
    return HeldoutResult(samples=len(predictions), accuracy=accuracy, seconds=seconds, predictions=predictions)


def vllm_heldout_accuracy(
    model_dir: Path,
    tokenizer: Any,
    examples: Sequence[GRPOExample],
    *,
    serve: Any,
    max_new_tokens: int,
    out: Path,
) -> HeldoutResult:
    """Serve ``model_dir`` with vLLM (``serve``: the recipe's ``serve`` section) and measure
    held-out accuracy on it; the server log and the journal go into ``out``."""
    from looptool.serve import VllmServer, free_port

    if not examples:
        return HeldoutResult()
    server = VllmServer.from_settings(
        serve, model_path=model_dir, served_name="heldout", log_path=out / "heldout-vllm.log",
        port=free_port(serve.host),  # the recipe's port may be a server the user runs
    )
    with server:
        return asyncio.run(
            served_heldout_accuracy(
                server.base_url, server.model, tokenizer, examples,
                max_new_tokens=max_new_tokens, journal=out / "heldout.journal.jsonl",
            )
        )
