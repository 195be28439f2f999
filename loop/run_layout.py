"""Where a loop run keeps its files (the layout of :mod:`looptool.loop.records`), for readers.

The report, the lineage query and the dataset export read a run folder through these paths
only, so a change of layout is made here once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from looptool.loop.records import LoopMode

RUN_REPORT_FILE = "run_report.json"
ITERATION_FILE = "iteration.json"
SEED_DIR = "seed"
SEED_FILES = ("train.jsonl", "heldout.jsonl")
_ITERATION_DIR = re.compile(r"^iter_(\d+)$")


class RunFolderError(ValueError):
    """A path is not a loop run folder, or lacks the part a reader asked for."""


@dataclass(frozen=True)
class IterationFolder:
    """``RUN/<mode>/iter_<j>/``: one iteration of one mode."""

    mode: LoopMode
    iteration: int
    path: Path

    @property
    def label(self) -> str:
        return f"{self.mode.value}/iter_{self.iteration}"

    @property
    def summary(self) -> Path:
        return self.path / ITERATION_FILE

    @property
    def data(self) -> Path:
        """D_j, the samples this iteration trains on."""
        return self.path / "data.jsonl"

    @property
    def probes(self) -> Path:
        return self.path / "probe" / "probe.jsonl"

    @property
    def probe_journal(self) -> Path:
        return self.path / "probe" / "probe.journal.jsonl"

    @property
    def verdicts(self) -> Path:
        return self.path / "judge" / "verdicts.jsonl"

    @property
    def judge_journal(self) -> Path:
        return self.path / "judge" / "judge.journal.jsonl"

    @property
    def expansions(self) -> Path:
        """The accepted EDDE samples."""
        return self.path / "expand" / "expansions.jsonl"

    @property
    def next_data(self) -> Path:
        """D_{j+1} as composed at the end of this iteration."""
        return self.path / "compose" / "next.jsonl"


def check_run_dir(run_dir: str | Path) -> Path:
    """``run_dir`` as a Path; a clear error when it is missing or holds no loop run."""
    path = Path(run_dir)
    if not path.exists():
        raise RunFolderError(f"run folder {path} does not exist")
    if not path.is_dir():
        raise RunFolderError(f"{path} is a file, not a run folder")
    if not (path / RUN_REPORT_FILE).exists() and not (path / SEED_DIR).is_dir() and not iteration_folders(path):
        raise RunFolderError(
            f"{path} holds no loop run (no {RUN_REPORT_FILE}, no {SEED_DIR}/ and no <mode>/iter_<j>/ folders)"
        )
    return path


def iteration_folders(run_dir: Path) -> list[IterationFolder]:
    """Every ``<mode>/iter_<j>/`` folder, modes in :class:`LoopMode` order, iterations ascending."""
    found: list[IterationFolder] = []
    for mode in LoopMode:
        mode_dir = run_dir / mode.value
        if not mode_dir.is_dir():
            continue
        for child in mode_dir.iterdir():
            match = _ITERATION_DIR.match(child.name)
            if match and child.is_dir():
                found.append(IterationFolder(mode=mode, iteration=int(match.group(1)), path=child))
    order = {mode: index for index, mode in enumerate(LoopMode)}
    return sorted(found, key=lambda folder: (order[folder.mode], folder.iteration))


def find_iteration(run_dir: Path, mode: LoopMode | str, iteration: int) -> IterationFolder:
    """The folder of ``mode``'s iteration ``iteration``; the error lists the ones there are."""
    try:
        wanted = LoopMode(mode)
    except ValueError:
        known = ", ".join(item.value for item in LoopMode)
        raise RunFolderError(f"unknown loop mode {mode!r} (known: {known})") from None
    folders = iteration_folders(run_dir)
    for folder in folders:
        if folder.mode is wanted and folder.iteration == iteration:
            return folder
    there = ", ".join(folder.label for folder in folders) or "none"
    raise RunFolderError(f"{run_dir} has no {wanted.value}/iter_{iteration} (iterations there: {there})")
