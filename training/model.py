"""Where the starting model lives, and its tokenizer, checked before any training starts."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from looptool.cli import UserError

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")


def resolve_model_path(name: str) -> Path:
    """A model folder for ``name``: the embedded SmolLM2 for ``embedded``, else the folder
    itself, which must hold ``config.json`` and weights."""
    if name == EMBEDDED:
        from looptool.embedded import EmbeddedModelError, ensure_embedded_model

        try:
            return Path(ensure_embedded_model())
        except EmbeddedModelError as error:
            raise UserError(f"embedded model: {error}") from None
    path = Path(name).expanduser()
    if not path.exists():
        raise UserError(
            f"model folder {path} does not exist (give a Hugging Face causal-LM folder or 'embedded')"
        )
    if not path.is_dir():
        raise UserError(f"model path {path} is not a folder")
    if not (path / "config.json").is_file():
        raise UserError(f"model folder {path} has no config.json; is it a Hugging Face model folder?")
    if not any(next(path.glob(pattern), None) for pattern in WEIGHT_PATTERNS):
        raise UserError(f"model folder {path} has no weights (*.safetensors or *.bin)")
    return path


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
