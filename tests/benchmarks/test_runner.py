"""looptool eval / sweep / rescore against a local fake OpenAI-compatible server:
request counting, resume after a kill, reports, bad input."""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from looptool.cli import main
from tests.fake_openai_server import ChatReply, FakeOpenAIServer, HttpError

REPO = Path(__file__).resolve().parents[2]
GOOD_SIMPLE_0 = '<tool_call>\n{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}\n</tool_call>'


def _eval(url: str, out: Path, *extra: str) -> int:
    """``looptool eval`` of BFCL simple; in Hermes prompt mode unless ``extra`` names a mode."""
    mode = () if "--mode" in extra else ("--mode", "prompt_hermes")
    return main(["eval", "-k", "simple", "--base-url", url, "--model", "fake", "--out", str(out), *mode, *extra])


def _results(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / "results.json").read_text())


def _outputs(out: Path, cell: str = "fake__prompt_hermes") -> list[str]:
    path = out / "cells" / cell / "bfcl_v3" / "outputs.jsonl"
    return [line for line in path.read_text().splitlines() if line.strip()]


def test_eval_scores_stores_reports_and_a_rerun_sends_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer(replies=[GOOD_SIMPLE_0]) as server:
        assert _eval(server.base_url, out, "--limit", "5", "--mode", "prompt_hermes") == 0
        assert len(server.chat_bodies) == 5
        assert "<tools>" in server.chat_bodies[0]["messages"][0]["content"]
        assert _eval(server.base_url, out, "--limit", "5", "--mode", "prompt_hermes") == 0
        assert len(server.chat_bodies) == 5  # finished cell: skipped
        assert _eval(server.base_url, out, "--limit", "7", "--mode", "prompt_hermes") == 0
        assert len(server.chat_bodies) == 7  # two more entries, the five stored ones reused
    (cell,) = _results(out)
    assert cell["complete"] and cell["entries"] == 7 and cell["requests"] == 7
    simple = next(row for row in cell["rows"] if row["name"] == "simple")
    assert simple["count"] == 7 and simple["score"] == pytest.approx(1 / 7)
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert rows[0]["model"] == "fake" and rows[0]["benchmark"] == "bfcl_v3"
    assert (out / "chart.png").stat().st_size > 1000
    assert len(_outputs(out)) == 7


def test_a_killed_eval_resumes_without_requerying_finished_entries(tmp_path: Path) -> None:
    out = tmp_path / "run"
    total = 24
    with FakeOpenAIServer(replies=[GOOD_SIMPLE_0], delay_s=0.15) as server:
        command = [
            sys.executable, "-m", "looptool.cli", "eval", "-k", "simple", "--limit", str(total),
            "--base-url", server.base_url, "--model", "fake", "--concurrency", "2", "--out", str(out),
            "--mode", "prompt_hermes",
        ]
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "PYTHONPATH": str(REPO)})
        deadline = time.monotonic() + 120
        while len(server.chat_bodies) < 8 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        first_run = len(server.chat_bodies)
        stored = len(_outputs(out))
        assert 4 <= stored < total, "the kill must land midway"
        with (out / "cells" / "fake__prompt_hermes" / "bfcl_v3" / "outputs.jsonl").open("a") as stream:
            stream.write('{"entry_id": "simple_2')  # a torn line, as a kill during a write leaves
        assert _eval(server.base_url, out, "--limit", str(total)) == 0
        assert len(server.chat_bodies) - first_run == total - stored
    lines = _outputs(out)
    ids = [json.loads(line)["entry_id"] for line in lines]
    assert len(ids) == len(set(ids)) == total
    (cell,) = _results(out)
    assert cell["complete"] and next(r for r in cell["rows"] if r["name"] == "simple")["count"] == total


def test_unreachable_endpoint_is_a_clear_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    assert _eval("http://127.0.0.1:9/v1", tmp_path / "run", "--limit", "2") == 2
    assert "cannot reach the model endpoint http://127.0.0.1:9/v1/models" in caplog.text
    assert not (tmp_path / "run" / "results.json").exists()


def test_wrong_model_name_lists_the_served_ones(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with FakeOpenAIServer(replies=["x"], models=["other"]) as server:
        assert _eval(server.base_url, tmp_path / "run", "--limit", "1") == 2
        assert len(server.chat_bodies) == 0
    assert "does not serve model 'fake' (it serves: other)" in caplog.text


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("prompt_hermes", {"content": "<tool_call>{{{ not json </tool_call> <tool_call>"}),
        ("prompt_python", {"content": "[f(x=open('/etc/passwd')), ]]"}),
        ("function_calling", {"content": None, "tool_calls": [{"function": {"name": 5, "arguments": "{bad"}}]}),
        ("function_calling", {"content": "\x00\x01 binary-ish"}),
    ],
)
def test_garbage_replies_are_scored_wrong(tmp_path: Path, mode: str, message: dict[str, Any]) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer(replies=[message]) as server:
        assert _eval(server.base_url, out, "--limit", "3", "--mode", mode) == 0
        assert len(server.chat_bodies) == 3
    (cell,) = _results(out)
    assert cell["complete"] and all(row["score"] == 0.0 for row in cell["rows"])
    scores = (out / "cells" / f"fake__{mode}" / "bfcl_v3" / "scores.jsonl").read_text().splitlines()
    assert len(scores) == 3


def test_unknown_names_suggest_the_closest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert main(["eval", "-k", "paralel", "--out", str(tmp_path / "a")]) == 2
    assert "unknown bfcl_v3 category 'paralel'; did you mean 'parallel'" in caplog.text
    assert main(["eval", "-b", "bfcl_v4", "--out", str(tmp_path / "b")]) == 2
    assert "unknown benchmark 'bfcl_v4'; did you mean 'bfcl_v3'?" in caplog.text
    config = tmp_path / "bad.yaml"
    config.write_text("eval:\n  benchmark_options:\n    bfcl_v3:\n      data_dir: /nonexistent/bfcl\n")
    assert main(["eval", "-c", str(config), "-k", "simple", "--out", str(tmp_path / "c")]) == 2
    assert "BFCL data folder /nonexistent/bfcl does not exist" in caplog.text


def test_sweep_over_two_models_then_rescore_without_a_server(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    with FakeOpenAIServer(replies=[GOOD_SIMPLE_0]) as server:
        recipe = {
            "run": {"name": "sweep-test"},
            "eval": {
                "benchmarks": ["bfcl_v3"],
                "categories": {"bfcl_v3": ["simple", "irrelevance"]},
                "limit": 2,
                "models": [
                    {"label": "a", "base_url": server.base_url, "model": "fake", "mode": "prompt_hermes"},
                    {"label": "b", "base_url": server.base_url, "model": "fake", "mode": "prompt_python"},
                ],
            },
        }
        config = tmp_path / "sweep.yaml"
        config.write_text(yaml.safe_dump(recipe))
        assert main(["sweep", "-c", str(config), "--out", str(out)]) == 0
        assert len(server.chat_bodies) == 8
    before = _results(out)
    assert [(cell["model"], cell["mode"]) for cell in before] == [("a", "prompt_hermes"), ("b", "prompt_python")]
    hermes = {row["name"]: row["score"] for row in before[0]["rows"]}
    python = {row["name"]: row["score"] for row in before[1]["rows"]}
    assert hermes["simple"] == 0.5 and hermes["irrelevance"] == 0.0  # the call is decoded everywhere
    assert python["simple"] == 0.0 and python["irrelevance"] == 1.0  # Hermes text is no Python call
    (out / "results.json").unlink()
    assert main(["rescore", str(out)]) == 0  # the server is gone: scores come from stored outputs
    assert _results(out) == before
    assert (out / "chart.png").exists()


class _FakeVllm:
    """Stands in for looptool.serve.VllmServer: 'serves' by pointing at the fake server."""

    started: list[str] = []
    stopped: list[str] = []

    def __init__(self, base_url: str, model_path: str) -> None:
        self.base_url = base_url
        self.model_path = model_path

    def start(self) -> _FakeVllm:
        _FakeVllm.started.append(self.model_path)
        return self

    def stop(self) -> None:
        _FakeVllm.stopped.append(self.model_path)


def test_sweep_serves_each_checkpoint_and_stops_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from looptool import serve

    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    with FakeOpenAIServer(replies=[GOOD_SIMPLE_0], models=["smollm2"]) as server:
        made: list[dict[str, Any]] = []

        def from_settings(settings: Any, **kwargs: Any) -> _FakeVllm:
            made.append(kwargs)
            return _FakeVllm(server.base_url, str(kwargs["model_path"]))

        monkeypatch.setattr(serve.VllmServer, "from_settings", staticmethod(from_settings))
        _FakeVllm.started, _FakeVllm.stopped = [], []
        recipe = {
            "eval": {
                "categories": {"bfcl_v3": ["simple"]},
                "limit": 2,
                "checkpoints": [
                    {"label": "base", "path": "embedded", "modes": ["prompt_hermes", "function_calling"]},
                    {"label": "iter1", "path": str(checkpoint)},
                ],
            }
        }
        config = tmp_path / "sweep.yaml"
        config.write_text(yaml.safe_dump(recipe))
        out = tmp_path / "sweep"
        assert main(["sweep", "-c", str(config), "--out", str(out)]) == 0
        assert _FakeVllm.started == _FakeVllm.stopped == ["embedded", str(checkpoint)]
        assert all(kwargs["log_path"].parent == out for kwargs in made)
        assert len(server.chat_bodies) == 6  # 2 entries x (2 modes + 1 mode)
        # a rerun of the finished sweep starts no server and sends nothing
        assert main(["sweep", "-c", str(config), "--out", str(out)]) == 0
        assert _FakeVllm.started == ["embedded", str(checkpoint)] and len(server.chat_bodies) == 6
        # a larger limit serves again, for the new entries only
        config.write_text(yaml.safe_dump({"eval": {**recipe["eval"], "limit": 3}}))
        assert main(["sweep", "-c", str(config), "--out", str(out)]) == 0
        assert len(_FakeVllm.started) == 4 and len(server.chat_bodies) == 9
        config.write_text(yaml.safe_dump(recipe))
    cells = _results(out)
    assert [(c["model"], c["mode"], c["checkpoint"]) for c in cells] == [
        ("base", "prompt_hermes", "embedded"),
        ("base", "function_calling", "embedded"),
        ("iter1", "prompt_python", str(checkpoint)),  # the default mode: BFCL's published prompt handler
    ]
    missing = tmp_path / "missing.yaml"
    missing.write_text(yaml.safe_dump({"eval": {"checkpoints": [{"label": "x", "path": str(tmp_path / "nope")}]}}))
    assert main(["sweep", "-c", str(missing), "--out", str(tmp_path / "m")]) == 2


def test_endpoint_dying_midway_stops_the_cell_and_a_rerun_completes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "run"
    state = {"alive": True}

    def reply(body: dict[str, Any]) -> ChatReply:
        return GOOD_SIMPLE_0 if state["alive"] else HttpError(503)

    with FakeOpenAIServer(replies=[reply]) as server:
        served = {"count": 0}

        def flaky(body: dict[str, Any]) -> ChatReply:
            served["count"] += 1
            if served["count"] > 3:
                state["alive"] = False
            return reply(body)

        server.replies = [flaky]
        assert _eval(server.base_url, out, "--limit", "6", "--concurrency", "1") == 2
        assert "attempt(s) failed; last: HTTP 503" in caplog.text and "rerun with --out" in caplog.text
        stored = len(_outputs(out))
        assert stored == 3
        state["alive"], server.replies = True, [reply]
        before = len(server.chat_bodies)
        assert _eval(server.base_url, out, "--limit", "6", "--concurrency", "1") == 0
        assert len(server.chat_bodies) - before == 3
    (cell,) = _results(out)
    assert cell["complete"] and cell["outputs"] == 6


def test_other_settings_into_the_same_out_are_refused_not_mixed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer(replies=[GOOD_SIMPLE_0]) as server:
        assert _eval(server.base_url, out, "--limit", "2", "--max-tokens", "512") == 0
        assert len(server.chat_bodies) == 2
        # a finished cell asked with other settings is not "finished earlier, skipped"
        assert _eval(server.base_url, out, "--limit", "2", "--max-tokens", "64") == 2
        assert "sampling.max_tokens: 512 -> 64" in caplog.text and "another --out" in caplog.text
        # nor are new entries appended to it under the other settings
        assert _eval(server.base_url, out, "--limit", "4", "--max-tokens", "64") == 2
        assert len(server.chat_bodies) == 2
        # the same settings resume and extend it
        assert _eval(server.base_url, out, "--limit", "3", "--max-tokens", "512") == 0
        assert len(server.chat_bodies) == 3
    manifest = json.loads((out / "cells" / "fake__prompt_hermes" / "bfcl_v3" / "cell.json").read_text())
    assert manifest["identity"]["endpoint"]["sampling"]["max_tokens"] == 512
    assert manifest["identity"]["endpoint"]["mode"] == "prompt_hermes"


def test_a_second_run_cannot_write_a_locked_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from looptool.benchmarks.runner.lock import RunFolderLock

    out = tmp_path / "run"
    with FakeOpenAIServer(replies=[GOOD_SIMPLE_0]) as server, RunFolderLock(out):
        assert _eval(server.base_url, out, "--limit", "1") == 2
        assert len(server.chat_bodies) == 0
    assert "is being written by another looptool eval/sweep" in caplog.text
    assert not (out / "config.yaml").exists()


def test_a_garbage_line_in_a_store_is_reported_with_file_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer(replies=[GOOD_SIMPLE_0]) as server:
        assert _eval(server.base_url, out, "--limit", "3") == 0
        path = out / "cells" / "fake__prompt_hermes" / "bfcl_v3" / "outputs.jsonl"
        lines = path.read_text().splitlines()
        path.write_text("\n".join([lines[0], "{garbage", lines[2]]) + "\n")
        assert main(["rescore", str(out), "--no-chart"]) == 1  # the cell lost an output: incomplete
        assert f"{path}:2: not an entry output" in caplog.text
        (cell,) = _results(out)
        assert next(r for r in cell["rows"] if r["name"] == "simple")["count"] == 2  # the rest still scores
        assert _eval(server.base_url, out, "--limit", "3") == 0  # the skipped entry is run again
        assert len(server.chat_bodies) == 4


def test_failed_validation_leaves_no_run_folder(tmp_path: Path) -> None:
    assert main(["eval", "-k", "paralel", "--out", str(tmp_path / "a")]) == 2
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({"eval": {"checkpoints": [{"label": "x", "path": str(tmp_path / "nope")}]}}))
    assert main(["sweep", "-c", str(config), "--out", str(tmp_path / "b")]) == 2
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_an_unreachable_endpoint_fails_only_its_cells_and_the_summary_says_how_to_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "sweep"
    with FakeOpenAIServer(replies=[GOOD_SIMPLE_0]) as server:
        recipe = {"eval": {
            "categories": {"bfcl_v3": ["simple"]}, "limit": 2,
            "models": [
                {"label": "down", "base_url": "http://127.0.0.1:9/v1", "model": "fake", "max_retries": 0},
                {"label": "up", "base_url": server.base_url, "model": "fake"},
            ],
        }}
        config = tmp_path / "sweep.yaml"
        config.write_text(yaml.safe_dump(recipe))
        assert main(["sweep", "-c", str(config), "--out", str(out)]) == 1
        assert len(server.chat_bodies) == 2
    cells = {cell["model"]: cell for cell in _results(out)}
    assert cells["up"]["complete"] and not cells["down"]["complete"]
    assert "FAILED down [prompt_hermes] / bfcl_v3" in caplog.text
    assert "fix: make http://127.0.0.1:9/v1 serve model 'fake'" in caplog.text


def test_rescore_has_a_description() -> None:
    import argparse

    from looptool.benchmarks import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    rescore = parser._subparsers._group_actions[0].choices["rescore"]  # type: ignore[union-attr]
    assert rescore.description and "no model is queried" in rescore.description


def test_eval_defaults_to_bfcls_prompt_handler_and_its_token_budget(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer(replies=["[calculate_triangle_area(base=10, height=5)]"]) as server:
        assert main(["eval", "-k", "simple", "--limit", "1", "--base-url", server.base_url, "--model", "fake",
                     "--out", str(out)]) == 0
        body = server.chat_bodies[0]
    assert body["max_tokens"] == 4096
    assert body["messages"][0]["content"].startswith("You are an expert in composing functions.")
    (cell,) = _results(out)
    assert cell["mode"] == "prompt_python" and cell["rows"][0]["score"] == 1.0
    assert "BFCL's Qwen prompt handler" in cell["notes"][0]  # the report says what the mode follows


def test_sweep_seeds_repeats_sampling_cells_and_reports_mean_and_spread(tmp_path: Path) -> None:
    out = tmp_path / "sweep"

    def answer(body: dict[str, Any]) -> str:  # right only with seed 10: a sampling model's luck
        return GOOD_SIMPLE_0 if body.get("seed") == 10 else "no idea"

    with FakeOpenAIServer(replies=[answer]) as server:
        recipe = {"eval": {
            "categories": {"bfcl_v3": ["simple"]}, "limit": 2,
            "models": [
                {"label": "hot", "base_url": server.base_url, "model": "fake", "mode": "prompt_hermes",
                 "sampling": {"temperature": 0.8, "seed": 10}},
                {"label": "greedy", "base_url": server.base_url, "model": "fake", "mode": "prompt_hermes",
                 "sampling": {"temperature": 0.0, "seed": 10}},
            ],
        }}
        config = tmp_path / "sweep.yaml"
        config.write_text(yaml.safe_dump(recipe))
        assert main(["sweep", "-c", str(config), "--out", str(out), "--seeds", "3"]) == 0
        assert len(server.chat_bodies) == 2 * 3 + 2  # three repeats of the sampling model, one greedy run
        assert sorted({body["seed"] for body in server.chat_bodies}) == [10, 11, 12]
    assert sorted(cell["model"] for cell in _results(out)) == ["greedy", "hot#seed10", "hot#seed11", "hot#seed12"]
    (stats,) = json.loads((out / "seeds.json").read_text())  # a partial run: its one category row
    assert (stats["model"], stats["row"], stats["seeds"]) == ("hot", "simple", [10, 11, 12])
    assert stats["scores"] == [0.5, 0.0, 0.0] and stats["mean"] == pytest.approx(1 / 6)
    assert stats["stdev"] == pytest.approx(0.288675, abs=1e-6) and (stats["minimum"], stats["maximum"]) == (0.0, 0.5)
    assert main(["sweep", "-c", str(config), "--out", str(tmp_path / "bad"), "--seeds", "0"]) == 2


def test_a_changed_benchmark_prompt_is_a_new_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    from looptool.benchmarks.base import ModelEndpoint
    from looptool.benchmarks.bfcl import BfclV3, prompting
    from looptool.benchmarks.runner.identity import cell_identity

    endpoint = ModelEndpoint(model="m", mode="prompt_python")
    before = cell_identity(BfclV3(), endpoint)
    monkeypatch.setattr(prompting, "DEFAULT_SYSTEM_PROMPT", prompting.DEFAULT_SYSTEM_PROMPT + "Be brief.\n")
    after = cell_identity(BfclV3(), endpoint)
    assert [line.split(":")[0] for line in before.differences(after)] == ["benchmark_prompt"]
    fc = cell_identity(BfclV3({"fc_tools": "openai"}), ModelEndpoint(model="m", mode="function_calling"))
    assert "options.fc_tools" in " ".join(before.differences(fc))


def test_entries_that_outgrow_the_context_are_listed_by_category(tmp_path: Path) -> None:
    """A prompt the server refuses as longer than the model's context is scored wrong and the
    entry is named in did_not_fit.json; other failures are not."""
    too_long = ("This model's maximum context length is 4096 tokens. However, your request has 5000 input "
                "tokens. Please reduce the length of the input messages.")
    replies: list[Any] = [HttpError(400, too_long), GOOD_SIMPLE_0, HttpError(400, "some other refusal"), GOOD_SIMPLE_0]
    out = tmp_path / "run"
    with FakeOpenAIServer(replies=replies) as server:
        assert _eval(server.base_url, out, "--limit", "4", "--concurrency", "1") == 0
    listed = json.loads((out / "cells" / "fake__prompt_hermes" / "bfcl_v3" / "did_not_fit.json").read_text())
    assert listed["entries"] == 1 and list(listed["by_category"]) == ["simple"]
    (entry_id,) = listed["by_category"]["simple"]
    scores = [json.loads(line) for line in
              (out / "cells" / "fake__prompt_hermes" / "bfcl_v3" / "scores.jsonl").read_text().splitlines()]
    assert next(s for s in scores if s["entry_id"] == entry_id)["score"] == 0.0
