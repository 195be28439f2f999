"""The vLLM launcher's life cycle, with a small fake server standing in for vLLM (the real
server is exercised by tests/integration): busy ports, start-up failures with the log tail,
clean process-group shutdown, and ``looptool serve`` under SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from looptool.config import ServeSettings
from looptool.serve import (
    PortInUseError,
    VllmError,
    VllmServer,
    VllmStartError,
    free_port,
    group_members,
    port_problem,
    resolve_device,
)

FAKE_SERVER = textwrap.dedent(
    """
    # stands in for `python -m vllm.entrypoints.openai.api_server ...`
    import argparse, http.server, json, subprocess, sys, time
    parser = argparse.ArgumentParser()
    parser.add_argument("-m")
    parser.add_argument("--port", type=int)
    parser.add_argument("--host")
    parser.add_argument("--served-model-name")
    options, _ = parser.parse_known_args()
    if options.served_model_name == "crash":
        print("ValueError: the model is broken", flush=True)
        sys.exit(3)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # an 'engine core'
    print("engine child", child.pid, flush=True)
    time.sleep(0.3)
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args): pass
        def do_GET(self):
            body = json.dumps({"data": [{"id": options.served_model_name}]}).encode()
            self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers()
            self.wfile.write(body)
    http.server.ThreadingHTTPServer((options.host, options.port), Handler).serve_forever()
    """
)


@pytest.fixture
def fake_vllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "fake_vllm.py"
    script.write_text(FAKE_SERVER)
    launcher = tmp_path / "python"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    launcher.chmod(launcher.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("LOOPTOOL_VLLM_PYTHON", str(launcher))
    return launcher


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "model.safetensors").write_bytes(b"")  # the launcher only checks it is there
    return folder


@pytest.fixture
def listener() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield int(sock.getsockname()[1])
    sock.close()


def make_server(model_dir: Path, tmp_path: Path, **kwargs: object) -> VllmServer:
    options: dict[str, object] = {"port": free_port(), "device": "cpu", "log_path": tmp_path / "vllm.log", "startup_timeout_s": 30}
    options.update(kwargs)
    return VllmServer(model_path=model_dir, **options)  # type: ignore[arg-type]


def test_busy_port_is_refused_before_anything_starts(model_dir: Path, tmp_path: Path, listener: int, fake_vllm: Path) -> None:
    server = make_server(model_dir, tmp_path, port=listener)
    with pytest.raises(PortInUseError, match=f"port {listener} on 127.0.0.1 is already in use.*serve.port="):
        server.start()
    assert server.pid is None and not (tmp_path / "vllm.log").exists()
    assert port_problem("127.0.0.1", listener) is not None
    assert port_problem("127.0.0.1", free_port()) is None


def test_start_stop_leaves_no_process_behind(model_dir: Path, tmp_path: Path, fake_vllm: Path) -> None:
    with make_server(model_dir, tmp_path, served_name="m1") as server:
        assert server.alive()
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        pgid = server.pid
        assert pgid is not None
        assert len(group_members(pgid)) >= 2  # the server and its child
        assert port_problem("127.0.0.1", server.port) is not None
    assert group_members(pgid) == []
    assert not server.alive()
    log_text = (tmp_path / "vllm.log").read_text()
    assert "--served-model-name m1" in log_text and "engine child" in log_text


def test_crash_during_startup_reports_the_log_tail(model_dir: Path, tmp_path: Path, fake_vllm: Path) -> None:
    server = make_server(model_dir, tmp_path, served_name="crash")
    with pytest.raises(VllmStartError, match=r"exited with code 3(.|\n)*the model is broken"):
        server.start()
    assert server.pid is None


def test_missing_environment_names_the_setup_command(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import looptool.serve as serve

    monkeypatch.delenv("LOOPTOOL_VLLM_PYTHON", raising=False)
    monkeypatch.setattr(serve, "REPO_ROOT", tmp_path)
    with pytest.raises(VllmError, match="scripts/setup.sh vllm-cuda"):
        make_server(model_dir, tmp_path, device="cuda").start()


def test_command_and_environment_follow_the_settings(model_dir: Path, tmp_path: Path, fake_vllm: Path) -> None:
    settings = ServeSettings(port=9001, enable_lora=True, max_lora_rank=8, kv_cache_gib=3, enforce_eager=False, extra_args=["--max-num-seqs", "16"])
    server = VllmServer.from_settings(settings, model_path=model_dir, served_name="pol", log_path=tmp_path / "x.log")
    command = server.command("cpu")
    assert command[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    joined = " ".join(command)
    assert f"--model {model_dir}" in joined and "--served-model-name pol" in joined and "--port 9001" in joined
    assert "--enforce-eager" not in command
    assert "--enable-lora --max-lora-rank 8" in joined
    assert "--enable-auto-tool-choice --tool-call-parser hermes" in joined
    assert command[-2:] == ["--max-num-seqs", "16"]
    env = server.environment("cpu")
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "3" and env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    no_tools = VllmServer.from_settings(ServeSettings(tool_call_parser=None), model_path=model_dir)
    assert "--tool-call-parser" not in no_tools.command("cpu")


def test_model_folder_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        VllmServer.from_settings(ServeSettings(), model_path=tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no config.json"):
        VllmServer.from_settings(ServeSettings(), model_path=tmp_path / "empty")
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="no weights"):
        VllmServer.from_settings(ServeSettings(), model_path=tmp_path / "empty")


def test_device_resolution() -> None:
    assert resolve_device("cpu") == "cpu" and resolve_device("cuda") == "cuda"
    assert resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(VllmError, match="serve.device"):
        resolve_device("tpu")


def test_looptool_serve_prints_url_and_stops_on_sigterm(model_dir: Path, tmp_path: Path, fake_vllm: Path) -> None:
    port = free_port()
    out = tmp_path / "run"
    code = (
        "import argparse, sys\n"
        "from looptool import serve_cli\n"
        "parser = argparse.ArgumentParser(); sub = parser.add_subparsers(dest='command')\n"
        "serve_cli.register(sub)\n"
        "args = parser.parse_args(sys.argv[1:])\n"
        "sys.exit(args.handler(args))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--model", str(model_dir), "--port", str(port), "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line == f"http://127.0.0.1:{port}/v1"
        server_info = json.loads((out / "server.json").read_text())
        pgid = int(server_info["pid"])
        assert group_members(pgid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    deadline = time.monotonic() + 5
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group_members(pgid) == []
    assert (out / "vllm.log").is_file() and (out / "config.yaml").is_file()


def test_lora_adapters_need_enable_lora(model_dir: Path) -> None:
    server = VllmServer(model_path=model_dir, enable_lora=False)
    with pytest.raises(VllmError, match="serve.enable_lora=true"):
        server.load_lora_adapter("iter1", model_dir)


def test_auto_dtype_is_float32_on_cpu_and_bfloat16_on_cuda(model_dir: Path) -> None:
    from looptool.serve import serving_dtype

    assert serving_dtype("auto", "cpu") == "float32" and serving_dtype("auto", "cuda") == "bfloat16"
    assert serving_dtype("bfloat16", "cpu") == "bfloat16"
    command = VllmServer(model_path=model_dir).command("cpu")
    assert command[command.index("--dtype") + 1] == "float32"
