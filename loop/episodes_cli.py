"""``looptool episodes ...``: build the episode file from its sources, check an episode file.

    looptool episodes build --out episodes.jsonl --dialogues runs/dialogues/dialogues.jsonl
    looptool episodes check episodes.jsonl
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter

from looptool.commands import output_file
from looptool.errors import UserError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("episodes", help="multi-step episodes on executable backends")
    commands = parser.add_subparsers(dest="episodes_command", required=True, metavar="ACTION")

    build = commands.add_parser(
        "build",
        help="write the curated episodes (and those of accepted dialogues) as JSONL",
        description="Write every curated episode, each replayed and checked, and with "
        "--dialogues the episodes converted from accepted simulated dialogues, to one JSONL "
        "file (written atomically). Prints how many episodes each source gave and why "
        "dialogues were skipped.",
    )
    build.add_argument("--out", required=True, help="episode file to write (JSONL)")
    build.add_argument("--dialogues", metavar="DIALOGUES.jsonl",
                       help="dialogues to convert (a synth run's dialogues.jsonl); only accepted "
                       "ones whose tools all run on executable backends give episodes")
    build.set_defaults(handler=run_build)

    check = commands.add_parser(
        "check",
        help="replay every episode of a file and report the problems by id",
        description="Replay each episode's reference calls on fresh backends: every call must "
        "succeed and end in the expected end state, which the initial state must not already "
        "have. Exit status 1 when any episode has a problem.",
    )
    check.add_argument("file", help="episode file (JSONL)")
    check.set_defaults(handler=run_check)


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")


def run_build(args: argparse.Namespace) -> int:
    from looptool.jsonl import DataFileError, read_jsonl, write_jsonl
    from looptool.loop.seed.episodes import (
        EpisodeSourceError,
        curated_episodes,
        dialogues_to_episodes,
    )
    from looptool.schema import Dialogue

    target = output_file(args.out, example="episodes.jsonl")
    try:
        episodes = curated_episodes()
    except EpisodeSourceError as error:
        raise UserError(str(error)) from None
    counts = {"curated": len(episodes)}
    skipped: Counter[str] = Counter()
    if args.dialogues:
        try:
            dialogues = read_jsonl(args.dialogues, Dialogue)
        except DataFileError as error:
            raise UserError(f"--dialogues: {error}") from None
        converted = dialogues_to_episodes(dialogues)
        episodes.extend(converted.episodes)
        counts["dialogues"] = converted.converted
        skipped = converted.skipped
    repeated = sorted(identity for identity, count in Counter(episode.id for episode in episodes).items()
                      if count > 1)
    if repeated:
        raise UserError(f"episode id(s) {repeated[:5]} come from more than one source; nothing written")
    written = write_jsonl(target, episodes)
    for source, count in counts.items():
        _write(f"{source}: {count} episodes")
    if args.dialogues:
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(skipped.items())) or "none"
        _write(f"dialogues skipped: {sum(skipped.values())} ({reasons})")
    _write(f"wrote {written} episodes to {target}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from looptool.episodes import load_episodes
    from looptool.loop.seed.episodes import check_episode

    episodes = load_episodes(args.file)
    failing = 0
    for episode in episodes:
        problems = check_episode(episode)
        if problems:
            failing += 1
            for problem in problems:
                _write(f"{episode.id}: {problem}")
    _write(f"{len(episodes)} episodes checked, {failing} with problems")
    return 1 if failing else 0
