"""The in-memory file system is confined to its own state: the host disk is never touched."""

from __future__ import annotations

import ast
import builtins
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from looptool.agents.backends import create_backend
from looptool.agents.backends import filesystem as fs_module
from looptool.agents.backends.filesystem import FileSystem, normalize_path
from looptool.schema import ToolCall


def call(fs: FileSystem, name: str, **arguments: Any) -> tuple[bool, Any]:
    result = fs.execute(ToolCall(name=name, arguments=arguments))
    return result.ok, json.loads(result.content)


@pytest.mark.parametrize(
    ("path", "cwd", "expected"),
    [
        ("a/b/../c", "/", "/a/c"),
        ("./x//y/", "/home", "/home/x/y"),
        ("..", "/home/user", "/home"),
        ("/etc/passwd", "/home", "/etc/passwd"),
        ("C:\\Windows\\system32", "/", "/C/Windows/system32"),
        ("~/notes", "/", "/~/notes"),
    ],
)
def test_normalize_path(path: str, cwd: str, expected: str) -> None:
    assert normalize_path(path, cwd) == expected


@pytest.mark.parametrize("path", ["..", "../etc/passwd", "a/../../b", "/../../../../etc", ""])
def test_paths_above_the_root_or_empty_are_refused(path: str) -> None:
    fs = FileSystem()
    ok, content = call(fs, "write_file", path=path, content="pwned")
    assert not ok and ("above the root" in content["error"] or "empty" in content["error"])
    assert fs.files == {}


def _forbid_host_io(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    touched: list[str] = []

    def guard(name: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            touched.append(f"{name}{args[:1]}")
            raise AssertionError(f"host file system touched: {name}{args[:1]}")

        return refuse

    for name in ("open", "mkdir", "makedirs", "remove", "unlink", "rename", "replace", "rmdir",
                 "symlink", "link", "chdir", "listdir", "scandir", "stat", "lstat"):
        monkeypatch.setattr(os, name, guard(f"os.{name}"))
    monkeypatch.setattr(builtins, "open", guard("open"))
    monkeypatch.setattr(io, "open", guard("io.open"))
    for name in ("rmtree", "copy", "copyfile", "move"):
        monkeypatch.setattr(shutil, name, guard(f"shutil.{name}"))
    for name in ("write_text", "write_bytes", "mkdir", "unlink", "rename", "touch", "open", "exists"):
        monkeypatch.setattr(Path, name, guard(f"Path.{name}"))
    return touched


def test_host_disk_is_untouched_by_escapes_and_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("original", encoding="utf-8")
    before = sorted((str(p), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file())
    host_victim = str(victim)
    depth = "../" * (len(victim.parts) + 3)
    fs = FileSystem()
    touched = _forbid_host_io(monkeypatch)
    attempts = [
        ("write_file", {"path": f"{host_victim}/keep.txt", "content": "pwned"}),
        ("mkdir", {"path": host_victim, "parents": True}),
        ("write_file", {"path": f"{host_victim}/keep.txt", "content": "pwned"}),
        ("write_file", {"path": f"{depth}{host_victim}/new.txt", "content": "pwned"}),
        ("remove", {"path": host_victim, "recursive": True}),
        ("remove", {"path": f"{depth}{host_victim}", "recursive": True}),
        ("read_file", {"path": "/etc/passwd"}),
        ("read_file", {"path": f"{depth}etc/passwd"}),
        ("cd", {"path": "/"}),
        ("cd", {"path": ".."}),
        ("move", {"source": "/", "destination": host_victim}),
        ("copy", {"source": f"{depth}", "destination": "/x"}),
        ("ls", {"path": "/proc/self"}),
        ("find", {"name_contains": "passwd", "path": "/"}),
        ("grep", {"text": "root", "path": "/"}),
    ]
    outcomes = [call(fs, name, **arguments) for name, arguments in attempts]
    monkeypatch.undo()
    assert touched == []
    after = sorted((str(p), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file())
    assert after == before
    # the "absolute host path" lives only inside the virtual tree, and was removed from it there
    assert outcomes[1][0] and outcomes[2][0] and outcomes[4][0]
    assert outcomes[3] == (False, {"error": f"path '{depth}{host_victim}/new.txt' goes above the root directory"})
    assert outcomes[6] == (False, {"error": "no such file: /etc/passwd"})
    assert not outcomes[9][0] and "above the root" in outcomes[9][1]["error"]
    assert all(path.startswith("/") for path in fs.files)


def test_module_imports_no_host_io() -> None:
    tree = ast.parse(Path(fs_module.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert not imported & {"os", "pathlib", "shutil", "io", "subprocess", "tempfile", "glob"}
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert not names & {"open", "eval", "exec", "__import__"}


def test_file_operations_and_snapshot() -> None:
    fs = create_backend("filesystem", {"files": {"docs/a.txt": "hello\nworld"}, "cwd": "docs"})
    assert isinstance(fs, FileSystem)
    assert call(fs, "pwd") == (True, "/docs")
    assert call(fs, "read_file", path="a.txt") == (True, "hello\nworld")
    assert call(fs, "mkdir", path="/docs/sub") == (True, "/docs/sub")
    assert call(fs, "mkdir", path="/docs/sub")[0] is False
    assert call(fs, "write_file", path="sub/b.txt", content="x y z")[1]["words"] == 3
    assert call(fs, "write_file", path="sub/b.txt", content="\nmore", append=True)[1]["lines"] == 2
    assert call(fs, "write_file", path="missing/c.txt", content="x") == (
        False, {"error": "no such directory: /docs/missing"})
    assert call(fs, "copy", source="sub", destination="/backup") == (True, "/backup")
    assert call(fs, "move", source="a.txt", destination="sub") == (True, "/docs/sub/a.txt")
    assert call(fs, "remove", path="sub")[0] is False  # not empty
    assert call(fs, "grep", text="more", path="/")[1] == [
        {"path": "/backup/b.txt", "line_number": 2, "line": "more"},
        {"path": "/docs/sub/b.txt", "line_number": 2, "line": "more"},
    ]
    assert call(fs, "find", name_contains="b.", path="/")[1] == ["/backup/b.txt", "/docs/sub/b.txt"]
    assert call(fs, "cd", path="sub") == (True, "/docs/sub")
    assert call(fs, "remove", path="/docs/sub", recursive=True)[0]
    assert fs.snapshot() == {
        "files": {"/backup/b.txt": "x y z\nmore"},
        "directories": ["/", "/backup", "/docs"],
        "cwd": "/docs",
    }
    names = [entry["name"] for entry in call(fs, "ls", path="/")[1]]
    assert names == ["backup", "docs"]


def test_size_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fs_module, "MAX_FILE_CHARS", 10)
    fs = FileSystem()
    ok, content = call(fs, "write_file", path="big.txt", content="x" * 11)
    assert not ok and "at most 10 characters" in content["error"]
