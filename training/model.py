"""Where the starting model lives, and its tokenizer, checked before any training starts."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from looptool.errors import UserError

log = logging.getLogger(__name__)

def resolve_model_path(name: str) -> Path:
    """A checked model folder for ``name`` (``embedded`` or a Hugging Face causal-LM folder
    with ``config.json`` and weights); problems become :class:`UserError`."""
    from looptool.embedded import EmbeddedModelError
    from looptool.embedded import resolve_model_path as resolve

    try:
        return resolve(name)
    except EmbeddedModelError as error:
        raise UserError(str(error)) from None


def model_type(path: Path) -> str:
    try:
        return str(json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type", "?"))
    except (OSError, json.JSONDecodeError):
        return "?"


def load_tokenizer(path: Path) -> Any:
    """The model's tokenizer, left-padded (generation), with a pad token and a chat template."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left", truncation_side="left")
    except (OSError, ValueError) as error:
        raise UserError(f"model folder {path}: tokenizer could not be loaded: {error}") from None
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(
            f"model folder {path}: the tokenizer has no chat template; GRPO prompts are chat "
            "messages, so an instruction-tuned (chat) model is needed"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
