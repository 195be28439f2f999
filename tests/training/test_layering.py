"""training/ depends on the kernel only through its library modules, never on the CLI
(which imports every area's command module)."""

from __future__ import annotations

import ast
from pathlib import Path

TRAINING = Path(__file__).resolve().parents[2] / "training"
FORBIDDEN = "looptool.cli"


def imported_modules(path: Path) -> list[str]:
    """Every module an ``import`` / ``from ... import`` in ``path`` names (with ``from A
    import B`` also as ``A.B``, so ``from looptool import cli`` is seen)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_scan_sees_every_import_form(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import looptool.cli\nfrom looptool import cli\nfrom looptool.cli import main\n"
        "def f():\n    import looptool.cli as c\n",
        encoding="utf-8",
    )
    assert imported_modules(sample).count(FORBIDDEN) == 4


def test_no_training_module_imports_the_cli() -> None:
    modules = sorted(TRAINING.rglob("*.py"))
    assert modules, f"no modules found under {TRAINING}"
    offenders = [
        str(path.relative_to(TRAINING.parent))
        for path in modules
        if any(name == FORBIDDEN or name.startswith(f"{FORBIDDEN}.") for name in imported_modules(path))
    ]
    assert offenders == [], f"these modules import {FORBIDDEN}: {offenders}"
