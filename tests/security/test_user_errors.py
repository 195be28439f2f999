"""A careless user's input: refused with one clear message naming the file and place,
never a traceback and never silently accepted."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from looptool import jsonl
from looptool.agents.tool_import.openapi import import_openapi_document
from looptool.config import ConfigError, load_config
from looptool.jsonl import DataFileError, iter_jsonl_dicts, read_jsonl, write_text_atomic
from looptool.schema import Sample

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
