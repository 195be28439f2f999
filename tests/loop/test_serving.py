"""PolicyServer: restart only when the base changes; adapters only onto their own base."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import looptool.loop.serving as serving
from looptool.config import ServeSettings
from looptool.loop.serving import AdapterBaseMismatch, PolicyServer


class FakeServer:
    started: list[Path] = []

    def __init__(self, model_path: Path, enable_lora: bool) -> None:
        self.model_path, self.enable_lora, self.model = model_path, enable_lora, "smollm2"
        self.base_url, self.loaded, self.running = "http://127.0.0.1:1/v1", [], False

    @classmethod
    def from_settings(cls, settings: ServeSettings, *, model_path: Any, **_: Any) -> FakeServer:
        return cls(Path(model_path), settings.enable_lora)

    def start(self) -> FakeServer:
        FakeServer.started.append(self.model_path)
        self.running = True
        return self

    def alive(self) -> bool:
        return self.running

    def stop(self) -> None:
        self.running = False

    def load_lora_adapter(self, name: str, path: Path) -> None:
        self.loaded.append((name, path))

    def unload_lora_adapter(self, name: str) -> None:
        self.loaded = [item for item in self.loaded if item[0] != name]


def adapter(tmp_path: Path, name: str, base: Path) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    return folder


@pytest.fixture(autouse=True)
def fake_server(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeServer.started = []
    monkeypatch.setattr(serving, "VllmServer", FakeServer)


def test_adapters_on_one_base_hot_load_without_restart(tmp_path: Path) -> None:
    base = tmp_path / "base"
    with PolicyServer(ServeSettings(), served_name="smollm2", log_dir=tmp_path) as server:
        first = server.policy(base, adapter(tmp_path, "a1", base), name="policy")
        second = server.policy(base, adapter(tmp_path, "a2", base), name="policy")
        assert FakeServer.started == [base.resolve()]
        assert first.model == second.model == "policy" and second.adapter.endswith("a2")
        assert len(server.times.adapter_loads) == 2 and len(server.times.starts) == 1
        assert server.base_model().model == "smollm2"


def test_a_new_base_restarts_the_server(tmp_path: Path) -> None:
    base, merged = tmp_path / "base", tmp_path / "merged1"
    with PolicyServer(ServeSettings(), served_name="smollm2", log_dir=tmp_path) as server:
        server.policy(base, adapter(tmp_path, "a1", base))
        server.policy(merged, adapter(tmp_path, "a2", merged))
    assert FakeServer.started == [base.resolve(), merged.resolve()]


def test_an_adapter_never_loads_onto_another_base(tmp_path: Path) -> None:
    base, merged = tmp_path / "base", tmp_path / "merged1"
    with PolicyServer(ServeSettings(), served_name="smollm2", log_dir=tmp_path) as server, \
            pytest.raises(AdapterBaseMismatch, match="trained on"):
        server.policy(base, adapter(tmp_path, "a2", merged))
    assert FakeServer.started == []


def test_not_an_adapter_folder_is_a_clear_error(tmp_path: Path) -> None:
    with PolicyServer(ServeSettings(), served_name="smollm2", log_dir=tmp_path) as server, \
            pytest.raises(Exception, match="adapter_config.json"):
        server.policy(tmp_path / "base", tmp_path)
