"""Shipped modules and the performance scripts import only installed code: no ``sys.path``
changes and no imports of the test suite (``tests`` is not installed)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("looptool", "agents", "graphs", "training", "loop", "benchmarks")
SCANNED = (*SHIPPED, "perf")
PATH_MUTATORS = {"insert", "append", "extend", "remove", "pop", "clear", "__setitem__"}


@dataclass(frozen=True)
class Finding:
    """One offending line."""

    path: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


def _is_sys_path(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "path"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
    )


def _is_tests_module(name: str | None) -> bool:
    return name is not None and (name == "tests" or name.startswith("tests."))


def scan_source(source: str, path: str) -> list[Finding]:
    """``sys.path`` changes and imports of ``tests`` in one module's source."""
    findings: list[Finding] = []

    def add(node: ast.AST, problem: str) -> None:
        findings.append(Finding(path, getattr(node, "lineno", 0), problem))

    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_tests_module(alias.name):
                    add(node, f"imports {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and _is_tests_module(node.module):
                add(node, f"imports from {node.module}")
            if node.level == 0 and node.module == "sys" and any(a.name == "path" for a in node.names):
                add(node, "imports sys.path by name")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and _is_sys_path(func.value) and func.attr in PATH_MUTATORS:
                add(node, f"changes sys.path (sys.path.{func.attr})")
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name == "addsitedir":
                add(node, "adds a site directory")
            first = node.args[0] if node.args else None
            if (
                name in {"import_module", "__import__"}
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and _is_tests_module(first.value)
            ):
                add(node, f"imports {first.value}")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                base = target.value if isinstance(target, ast.Subscript) else target
                if _is_sys_path(base):
                    add(node, "assigns to sys.path")
    return findings


def _python_files() -> list[Path]:
    files = [path for folder in SCANNED for path in sorted((REPO / folder).rglob("*.py"))]
    return [path for path in files if "__pycache__" not in path.parts]


def test_the_scan_covers_every_folder() -> None:
    folders = {path.relative_to(REPO).parts[0] for path in _python_files()}
    assert folders == set(SCANNED)


@pytest.mark.parametrize("folder", SCANNED)
def test_no_sys_path_changes_and_no_tests_imports(folder: str) -> None:
    findings = [
        finding
        for path in _python_files()
        if path.relative_to(REPO).parts[0] == folder
        for finding in scan_source(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    ]
    assert not findings, "\n".join(map(str, findings))


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("import sys\nsys.path.insert(0, '..')", "sys.path.insert"),
        ("import sys\nsys.path.append('x')", "sys.path.append"),
        ("import sys\nsys.path = ['x']", "assigns to sys.path"),
        ("import sys\nsys.path[:0] = ['x']", "assigns to sys.path"),
        ("import sys\nsys.path += ['x']", "assigns to sys.path"),
        ("import site\nsite.addsitedir('x')", "site directory"),
        ("from sys import path", "sys.path by name"),
        ("import tests.graphs.fakes", "imports tests.graphs.fakes"),
        ("from tests.graphs.api_synthesis.fakes import valid_draft", "imports from tests.graphs"),
        ("from tests import helpers", "imports from tests"),
        ("import importlib\nimportlib.import_module('tests.fakes')", "imports tests.fakes"),
    ],
)
def test_the_scan_finds_each_kind_of_offence(source: str, problem: str) -> None:
    findings = scan_source(source, "example.py")
    assert len(findings) == 1 and problem in findings[0].problem


@pytest.mark.parametrize(
    "source",
    [
        "import sys\nprint(sys.path)",  # reading is fine
        "from looptool.tests_support import x",  # a name that only starts with 'tests'
        "import testsuite",
        "from . import tests",  # a relative module of the package itself
    ],
)
def test_the_scan_leaves_harmless_code_alone(source: str) -> None:
    assert scan_source(source, "example.py") == []
