"""What ``train.sample_kind: episode`` changes in a GRPO run: the data, the trainer's
environments, and the held-out measure (end-state success of greedy rollouts).

The trainer module keeps one flow for both kinds; this module supplies the episode pieces.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from looptool.agents.backends.episode_env import EpisodeEnvironment, UserPartner
from looptool.episodes import Episode, is_episode_file, load_episodes
from looptool.errors import UserError
from looptool.training.data import split_heldout
from looptool.training.episode_rollout import TransformersPolicy, evaluate_episodes, write_outcomes
from looptool.training.episodes import (
    EpisodeRows,
    build_episode_rows,
    prepare_tool_tokenizer,
    use_spec_schemas,
)
from looptool.training.evaluate import HeldoutResult
from looptool.training.settings import TrainSettings


@dataclass(frozen=True)
class EpisodeData:
    """Training rows and the held-out episodes."""

    train: EpisodeRows
    heldout: list[Episode]
    heldout_over_limit: int
    episodes: int
    partner: UserPartner | None = None

    @property
    def environments(self) -> dict[str, type[EpisodeEnvironment]]:
        return self.train.environments()


def check_data_kind(path: Path, settings: TrainSettings) -> None:
    """A data file of the other kind fails with the setting to change."""
    episodes = is_episode_file(path)
    if episodes and settings.sample_kind != "episode":
        raise UserError(f"{path} holds episodes (\"kind\": \"episode\"); set train.sample_kind: episode to train on them")
    if not episodes and settings.sample_kind == "episode" and path.is_file():
        raise UserError(f"train.sample_kind is episode but {path} holds no episodes (its first record has no "
                        "\"kind\": \"episode\"); single-step samples train with sample_kind: step")


def benchmark_backends() -> set[str]:
    """Registry names of the benchmarks' own backends (ACEBench's simulated APIs). BFCL's
    multi-turn backends are not LoopTool backends at all; their tools are caught by the loop's
    tool-overlap guard (``loop/contamination.py``)."""
    from looptool.agents.backends.acebench.environment import CLASSES

    return {str(cls.backend_name) for classes in CLASSES.values() for cls in classes.values() if cls.backend_name}


def refuse_benchmark_backends(path: Path, episodes: list[Episode]) -> None:
    """Episodes played on a benchmark's own backends would train on the test environment."""
    guarded = benchmark_backends()
    found = sorted({f"{episode.id} ({', '.join(sorted(set(episode.backends) & guarded))})"
                    for episode in episodes if set(episode.backends) & guarded})
    if found:
        shown = "; ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise UserError(f"{path}: episodes on a benchmark's own backends are kept out of training "
                        f"(contamination guard): {shown}")


def load_training_episodes(path: Path) -> list[Episode]:
    """:func:`load_episodes` plus the contamination guard."""
    episodes = load_episodes(path)
    refuse_benchmark_backends(path, episodes)
    return episodes


def episode_partner(settings: TrainSettings, partner: UserPartner | None) -> UserPartner | None:
    """The simulated user of an episode run: ``partner`` with ``train.simulated_user``, else none."""
    if not settings.simulated_user:
        return None
    if partner is None:
        raise UserError("train.simulated_user needs the user simulator: a server for roles.user_sim (set "
                        "roles.user_sim.base_urls; docs/episodes.md, simulated user)")
    return partner


def prepare_episode_data(data: Path, episodes: list[Episode], heldout_file: list[Episode] | None, tokenizer: Any,
                         settings: TrainSettings, seed: int, partner: UserPartner | None = None) -> EpisodeData:
    """Split the loaded episodes (``heldout_file``, or a seeded slice) and render them (with the
    ``ask_user`` tool when a simulated user ``partner`` is given); ``data`` names the file in errors."""
    if heldout_file is not None:
        train, heldout = episodes, heldout_file
    else:
        split = split_heldout(episodes, fraction=settings.holdout_fraction, limit=settings.holdout_max, seed=seed)
        train, heldout = split.train, split.heldout
    prepare_tool_tokenizer(tokenizer)
    rows = build_episode_rows(train, tokenizer, max_prompt_tokens=settings.max_prompt_tokens, preamble=settings.preamble,
                              partner=partner)
    if not rows.rows:
        raise UserError(f"{data}: none of the {len(train)} training episodes fits train.max_prompt_tokens="
                        f"{settings.max_prompt_tokens}; raise the limit")
    heldout_rows = build_episode_rows(heldout, tokenizer, max_prompt_tokens=settings.max_prompt_tokens,
                                      preamble=settings.preamble, partner=partner)
    kept = {row.episode_id for row in heldout_rows.rows}
    return EpisodeData(train=rows, heldout=[episode for episode in heldout if episode.id in kept],
                       heldout_over_limit=heldout_rows.over_limit, episodes=len(train) + len(heldout), partner=partner)


def attach_environments(trainer: Any, data: EpisodeData) -> None:
    """After the trainer is built: tools rendered from the backends' JSON Schemas."""
    use_spec_schemas(trainer, data.environments)


def episode_heldout(model: Any, tokenizer: Any, episodes: list[Episode], settings: TrainSettings,
                    out: Path, *, label: str, partner: UserPartner | None = None) -> HeldoutResult:
    """End-state success of greedy rollouts in-process (``transformers`` backend)."""
    if not episodes:
        return HeldoutResult()
    was_training = model.training
    model.eval()
    try:
        evaluation = asyncio.run(evaluate_episodes(
            episodes, TransformersPolicy(model, tokenizer), tokenizer,
            max_completion_tokens=settings.max_completion_tokens,
            max_tool_calling_iterations=settings.max_tool_calling_iterations,
            preamble=settings.preamble, description=f"held-out episodes ({label})", partner=partner))
    finally:
        if was_training:
            model.train()
    write_outcomes(out / f"heldout_episodes_{label}.jsonl", evaluation)
    return evaluation.as_heldout()


def vllm_episode_heldout(model_dir: Path, tokenizer: Any, episodes: list[Episode], settings: TrainSettings,
                         serve: Any, out: Path, partner: UserPartner | None = None) -> HeldoutResult:
    """End-state success of greedy rollouts on the trained model served by vLLM."""
    from looptool.completions import OpenAICompatClient
    from looptool.config import RoleSettings
    from looptool.serve import VllmServer, free_port

    if not episodes:
        return HeldoutResult()
    server = VllmServer.from_settings(serve, model_path=model_dir, served_name="heldout",
                                      log_path=out / "heldout-vllm.log", port=free_port(serve.host))

    async def run(base_url: str, model: str) -> HeldoutResult:
        client = OpenAICompatClient.for_role(RoleSettings(base_urls=[base_url], model=model), "heldout")
        try:
            evaluation = await evaluate_episodes(
                episodes, client, tokenizer, max_completion_tokens=settings.max_completion_tokens,
                max_tool_calling_iterations=settings.max_tool_calling_iterations, preamble=settings.preamble,
                concurrency=8, description="held-out episodes (after)", partner=partner)
        finally:
            await client.aclose()
        write_outcomes(out / "heldout_episodes_after.jsonl", evaluation)
        return evaluation.as_heldout()

    with server:
        return asyncio.run(run(server.base_url, server.model))
