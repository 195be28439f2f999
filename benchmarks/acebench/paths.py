"""Where the ACEBench data lives: ``../shared/acebench`` next to the repository, unless
``LOOPTOOL_ACEBENCH_DIR`` or the ``data_dir`` option says otherwise. The data is never
copied into the repository."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "LOOPTOOL_ACEBENCH_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "acebench"


class AceBenchDataError(FileNotFoundError):
    """The ACEBench data folder (or one of its files) is missing; names the path."""


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The ACEBench folder (holding ``data/data_all`` and ``derived``), checked to exist.

    Precedence: explicit ``data_dir`` > ``$LOOPTOOL_ACEBENCH_DIR`` > ``../shared/acebench``
    relative to the repository root. A relative path is taken from the repository root.
    """
    chosen = data_dir or os.environ.get(ENV_VAR) or DEFAULT_DATA_DIR
    path = Path(chosen).expanduser()
    if not path.is_absolute():
        path = (REPO_ROOT / path).resolve()
    marker = path / "data" / "data_all"
    if not marker.is_dir():
        source = "option data_dir" if data_dir else (f"${ENV_VAR}" if os.environ.get(ENV_VAR) else "default")
        raise AceBenchDataError(
            f"ACEBench data folder not found: {marker} does not exist ({source}: {path}). "
            f"Put the ACEBench data at {DEFAULT_DATA_DIR} or set {ENV_VAR} / "
            "benchmark_options.acebench.data_dir to the folder that holds data/data_all/."
        )
    return path


def language_dir(root: Path, language: str) -> Path:
    return root / "data" / "data_all" / f"data_{language}"


def derived_state_file(root: Path, language: str) -> Path:
    path = root / "derived" / f"scenario_initial_state_{language}.json"
    if not path.is_file():
        raise AceBenchDataError(f"ACEBench derived initial state missing: {path}")
    return path
