"""A careless user's input: refused with one clear message naming the file and place,
never a traceback and never silently accepted."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from looptool import commands, jsonl
from looptool.agents.tool_import.loader import import_file
from looptool.agents.tool_import.openapi import import_openapi_document
from looptool.cli import main
from looptool.config import ConfigError, load_config
from looptool.errors import UserError
from looptool.jsonl import DataFileError, iter_jsonl_dicts, read_jsonl, write_text_atomic
from looptool.labels import check_labels, label_problems
from looptool.logs import setup_logging
from looptool.loop.seed import import_openai_jsonl
from looptool.schema import Sample
from looptool.traces import TRACE_FILE, EventKind, TraceStore
from looptool.training.data import load_samples

SAMPLE = {"id": "s1", "tools": [], "context": [{"role": "user", "content": "hi"}], "label_text": "hello"}


def test_atomic_writes_get_the_usual_permissions(tmp_path: Path) -> None:
    target = tmp_path / "tools.jsonl"
    write_text_atomic(target, "{}\n")
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode == 0o666 & ~jsonl._UMASK
    assert mode & stat.S_IRGRP  # not mkstemp's 0600 (the umask of these machines keeps group read)


def test_atomic_writes_fsync_the_file_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(f"fsync:{os.readlink(f'/proc/self/fd/{fd}')}")
        real_fsync(fd)

    def replace(source: str, target: str | Path) -> None:
        events.append(f"replace:{source}")
        real_replace(source, target)

    monkeypatch.setattr(jsonl.os, "fsync", fsync)
    monkeypatch.setattr(jsonl.os, "replace", replace)
    write_text_atomic(tmp_path / "config.yaml", "a: 1\n")
    assert [event.split(":")[0] for event in events] == ["fsync", "replace"]
    assert events[0].removeprefix("fsync:") == events[1].removeprefix("replace:")  # the same temp file


@pytest.mark.parametrize("content, line", [(b'{"a": 1}\n{"b": "caf\xe9"}\n', 2), (b'\xff{"a": 1}\n', 1)])
def test_a_byte_that_is_not_utf8_names_the_file_and_line(tmp_path: Path, content: bytes, line: int) -> None:
    source = tmp_path / "samples.jsonl"
    source.write_bytes(content)
    with pytest.raises(DataFileError, match=rf"samples\.jsonl:{line}: byte 0x(e9|ff) .* not UTF-8"):
        list(iter_jsonl_dicts(source))


def test_a_line_separator_inside_a_json_string_does_not_split_the_line(tmp_path: Path) -> None:
    source = tmp_path / "data.jsonl"
    source.write_text('{"text": "a\u2028b"}\n{"text": "c"}\n', encoding="utf-8")
    assert [row["text"] for row in iter_jsonl_dicts(source)] == ["a\u2028b", "c"]


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_bytes(b"run:\n  name: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"recipe\.yaml:2: byte 0xe9"):
        load_config(recipe)


def test_a_newer_schema_version_is_refused_not_read(tmp_path: Path) -> None:
    source = tmp_path / "samples.jsonl"
    source.write_text('{"schema_version": 99, "id": "s1", "tools": [], "context": [], "label_text": "x"}\n')
    with pytest.raises(DataFileError, match="schema_version.*99 is newer than this LoopTool reads"):
        read_jsonl(source, Sample)
    assert Sample.model_validate(SAMPLE).schema_version == 1


def test_a_skipped_openapi_operation_is_named_by_its_operation_id() -> None:
    document = {
        "openapi": "3.0.0",
        "paths": {"/invoices": {"post": {
            "operationId": "createInvoice",
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Nope"}}}},
        }}},
    }
    tools, issues = import_openapi_document(document, "api.yaml")
    assert tools == []
    assert len(issues) == 1 and issues[0].reason.startswith("createInvoice (POST /invoices): ")


# ---------------------------------------------------------------- the command line


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str, code: int = 2) -> None:
    """``looptool ARGV`` exits with ``code`` and the message, without a traceback."""
    assert main(argv) == code
    captured = capsys.readouterr()
    text = "".join((captured.out + captured.err).split())  # rich wraps long lines anywhere
    assert "".join(expected.split()) in text, text
    assert "Traceback" not in text


def _store(run: Path) -> Path:
    store = TraceStore.for_run(run)
    store.start("dlg-1", metadata={"index": 1})
    store.record("dlg-1", EventKind.NOTE, content="hello")
    store.finish("dlg-1", "accepted")
    store.close()
    return run / TRACE_FILE


def test_a_foreign_traces_table_is_refused_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(tmp_path / TRACE_FILE) as conn:
        conn.execute("CREATE TABLE traces (name TEXT)")
    _one_line_error(capsys, ["traces", "show", str(tmp_path)], "not a LoopTool trace store")
    _one_line_error(capsys, ["traces", "html", str(tmp_path)], "not a LoopTool trace store")


def test_a_corrupt_trace_store_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _store(tmp_path)
    data = bytearray(path.read_bytes())
    page = 4096  # sqlite's default page size: damage every page after the first
    data[page:] = b"\xa5" * (len(data) - page)
    path.write_bytes(bytes(data))
    _one_line_error(capsys, ["traces", "show", str(tmp_path)], str(path))
    path.write_bytes(b"not sqlite at all" * 100)
    _one_line_error(capsys, ["traces", "html", str(tmp_path)], "trace store")


def test_bad_json_in_a_trace_column_names_the_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _store(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE events SET data = '{oops' WHERE trace_id = 'dlg-1'")
    _one_line_error(capsys, ["traces", "show", str(tmp_path), "--dialogue", "dlg-1"],
                    "trace 'dlg-1' event 1 column 'data': not valid JSON")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE traces SET metadata = '[1,' WHERE trace_id = 'dlg-1'")
    _one_line_error(capsys, ["traces", "html", str(tmp_path)], "trace 'dlg-1' column 'metadata': not valid JSON")


def test_an_unknown_log_level_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--log-level", "BOGUS", "tools", "list-backends"])
    assert stop.value.code == 2
    assert "invalid choice: 'BOGUS'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown log level 'bogus'"):
        load_config(None, ["run.log_level=bogus"])


def test_an_output_that_is_a_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "tools.json"
    spec.write_text(json.dumps({"name": "ping", "description": "Ping.", "parameters": {"type": "object"}}))
    folder = tmp_path / "out"
    folder.mkdir()
    for option in ("-o", "--out"):
        _one_line_error(capsys, ["tools", "import", str(spec), option, str(folder)], f"{folder} is a folder")
        _one_line_error(capsys, ["traces", "html", str(tmp_path), option, str(folder)], f"{folder} is a folder")
    assert list(folder.iterdir()) == []
    assert main(["tools", "import", str(spec), "--out", str(tmp_path / "lib.jsonl")]) == 0
    assert stat.S_IMODE((tmp_path / "lib.jsonl").stat().st_mode) == 0o666 & ~jsonl._UMASK


def test_tools_call_runs_one_call_and_names_every_mistake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "call", "calculator", "calculate", "--args", '{"expression": "2 + 3"}']) == 0
    assert json.loads(capsys.readouterr().out) == {"expression": "2 + 3", "result": 5}
    _one_line_error(capsys, ["tools", "call", "calculater", "calculate"], "did you mean 'calculator'?")
    _one_line_error(capsys, ["tools", "call", "calculator", "calcluate"],
                    "unknown calculator tool 'calcluate'; did you mean 'calculate'?")
    _one_line_error(capsys, ["tools", "call", "calculator", "calculate", "--args", '{"expression": '],
                    "--args: not valid JSON")
    _one_line_error(capsys, ["tools", "call", "calculator", "calculate", "--args", "[1]"],
                    "--args: expected a JSON object, got list")
    _one_line_error(capsys, ["tools", "call", "calculator", "calculate", "--args", '{"expression": 5}'],
                    "5 is not of type 'string'", code=1)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"files": {"/notes.txt": "hi"}}))
    argv = ["tools", "call", "filesystem", "write_file", "--args", '{"path": "/b.txt", "content": "x"}']
    assert main([*argv, "--scenario", str(state), "--show-state"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed[printed.index("\n{") :])["files"] == {"/notes.txt": "hi", "/b.txt": "x"}
    _one_line_error(capsys, ["tools", "call", "filesystem", "ls", "--scenario", str(tmp_path / "nope.json")],
                    "--scenario")


# ---------------------------------------------------------------- run folders

UNREACHABLE = 'roles.generator.base_urls=["http://127.0.0.1:9/v1"]'


def test_a_command_that_fails_validation_leaves_no_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fresh = tmp_path / "runs" / "new"
    _one_line_error(capsys, ["synth", "apis", "--n", "1", "--out", str(fresh), "--set", UNREACHABLE],
                    "no answer from http://127.0.0.1:9/v1")
    assert not fresh.exists()
    _one_line_error(capsys, ["synth", "apis", "--n", "1", "--set", UNREACHABLE, "--set", f"run.root={tmp_path / 'r'}"],
                    "no answer")
    assert list((tmp_path / "r").iterdir()) == []
    resumed = tmp_path / "resumed"  # a folder the user named and that already exists is left alone
    resumed.mkdir()
    _one_line_error(capsys, ["synth", "apis", "--n", "1", "--out", str(resumed), "--set", UNREACHABLE], "no answer")
    assert (resumed / "config.yaml").is_file()


def test_only_unused_new_run_folders_are_discarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = argparse.Namespace(config=None, overrides=[f"run.root={tmp_path}"], out=None)
    monkeypatch.setattr(commands, "_CREATED_RUNS", [])
    _, idle = commands.start_run(args, run_name="idle")
    _, busy = commands.start_run(argparse.Namespace(**{**vars(args), "out": str(tmp_path / "busy")}), run_name="busy")
    busy.stage("seed").mark_done()
    setup_logging("INFO")
    assert commands.discard_unused_runs() == [idle.path]
    assert not idle.path.exists() and (busy.path / "seed.done").is_file()


# ---------------------------------------------------------------- label arguments

WEATHER = {"name": "get_weather", "description": "Weather.", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "enum": [1, 3]}},
    "required": ["city"]}}


def _labelled(sample_id: str, arguments: dict[str, object]) -> dict[str, object]:
    return {"id": sample_id, "tools": [WEATHER], "context": [{"role": "user", "content": "weather?"}],
            "label_calls": [{"name": "get_weather", "arguments": arguments}]}


def test_label_arguments_that_break_the_schema_are_reported_per_sample(tmp_path: Path) -> None:
    source = tmp_path / "samples.jsonl"
    rows = [_labelled("ok", {"city": "Oslo"}), _labelled("no-city", {"days": 3}),
            _labelled("bad-days", {"city": "Oslo", "days": 2}), _labelled("ok2", {"city": "Rome", "days": 1})]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(UserError) as refused:
        load_samples(source)
    message = str(refused.value)
    assert "2 sample(s)" in message and "train.invalid_labels=drop" in message
    assert "record 2 (sample 'no-city'): label call 0 'get_weather': 'city' is a required property" in message
    assert "record 3 (sample 'bad-days'): label call 0 'get_weather' argument 'days': 2 is not one of [1, 3]" in message
    assert [sample.id for sample in load_samples(source, invalid_labels="drop")] == ["ok", "ok2"]
    assert check_labels(read_jsonl(source, Sample)[:1], "x") and label_problems(read_jsonl(source, Sample)[0]) == []


def test_an_imported_seed_turn_with_a_bad_label_is_reported_and_skipped(tmp_path: Path) -> None:
    source = tmp_path / "chats.jsonl"
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": 7}'}}
    good = {**call, "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    lines = [{"tools": [{"type": "function", "function": WEATHER}], "messages": [
        {"role": "user", "content": "weather?"}, {"role": "assistant", "content": "", "tool_calls": [tool_call]}]}
        for tool_call in (call, good)]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = import_openai_jsonl([source])
    assert len(result.samples) == 1 and result.samples[0].label_calls[0].arguments == {"city": "Oslo"}
    assert [problem.line for problem in result.problems] == [1]
    assert "7 is not of type 'string'" in str(result.problems[0])


def test_an_imported_seed_line_that_is_not_utf8_is_reported_not_replaced(tmp_path: Path) -> None:
    source = tmp_path / "chats.jsonl"
    line = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    source.write_bytes(json.dumps(line).encode() + b"\n" + json.dumps(line).encode().replace(b"hello", b"h\xe9llo") + b"\n")
    result = import_openai_jsonl([source])
    assert [sample.label_text for sample in result.samples] == ["hello"]  # never "h\ufffdllo"
    assert [(problem.line, "byte 0xe9" in str(problem)) for problem in result.problems] == [(2, True)]


def test_a_tool_spec_file_that_is_not_utf8_is_an_issue_naming_the_line(tmp_path: Path) -> None:
    spec = tmp_path / "tools.jsonl"
    spec.write_bytes(b'{"name": "ping", "parameters": {"type": "object"}}\n{"name": "p\xf6ng"}\n')
    tools, issues = import_file(spec)
    assert tools == [] and len(issues) == 1
    assert f"{spec}:2: byte 0xf6 at column 12 is not UTF-8" in issues[0].reason
