"""The simulated user inside an episode rollout (``train.simulated_user``; off by default).

The dialogue simulator's User role (:func:`looptool.agents.user_sim.user_turn`, the same prompt)
answers the policy's ``ask_user`` questions from the episode's
:class:`~looptool.episodes.UserBrief`; it sees the instruction, the calls made so far with
their results, and the question. See :mod:`agents.backends.episode_env` for why the user is
reached through a tool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from looptool.agents.backends.episode_env import EpisodeStep
from looptool.agents.role_call import RoleBinding
from looptool.agents.user_sim import user_turn
from looptool.config import LoopToolConfig
from looptool.episodes import Episode
from looptool.errors import UserError
from looptool.schema import Message, Role

ROLE = "user_sim"


def user_view(episode: Episode, timeline: Sequence[EpisodeStep], question: str) -> list[Message]:
    """The conversation as the user simulator sees it: the user's turns, the calls and their
    results, earlier questions with their answers, and the new question."""
    messages = [message for message in episode.context if message.role == Role.USER]
    for step in timeline:
        if step.to_user:
            messages.append(Message(role=Role.ASSISTANT, content=str(step.call.arguments.get("question", ""))))
            messages.append(Message(role=Role.USER, content=step.content))
        else:
            messages.append(Message(role=Role.ASSISTANT, content="", tool_calls=[step.call]))
            messages.append(Message(role=Role.TOOL, name=step.call.name, content=step.content))
    messages.append(Message(role=Role.ASSISTANT, content=question))
    return messages


class SimulatedUserPartner:
    """:class:`~agents.backends.episode_env.UserPartner` played by a chat model.

    ``chat_model`` builds the model (``make_chat_model(config, "user_sim")``); one is built per
    event loop, since TRL runs async tools on its own loop and each evaluation runs its own.
    """

    def __init__(self, chat_model: Callable[[], Any], *, role: str = ROLE) -> None:
        self._chat_model = chat_model
        self._role = role
        self._bindings: dict[int, RoleBinding] = {}

    def _binding(self) -> RoleBinding:
        loop = id(asyncio.get_running_loop())
        if loop not in self._bindings:
            self._bindings[loop] = RoleBinding(model=self._chat_model(), role=self._role)
        return self._bindings[loop]

    async def answer(self, episode: Episode, timeline: Sequence[EpisodeStep], question: str) -> str:
        brief = episode.user_brief()
        turn = await user_turn(self._binding(), task=brief.task, details=brief.details, persona=brief.persona,
                               messages=user_view(episode, timeline, question), withhold_detail=False)
        return turn.message


def unreachable(base_urls: Sequence[str], timeout_s: float = 5.0) -> list[str]:
    """The base URLs that do not answer ``GET /models`` (with why)."""
    problems: list[str] = []
    for url in base_urls:
        try:
            response = httpx.get(url.rstrip("/") + "/models", timeout=timeout_s)
            response.raise_for_status()
        except httpx.HTTPError as error:
            problems.append(f"{url} ({type(error).__name__}: {error})")
    return problems


def partner_from_config(config: LoopToolConfig) -> SimulatedUserPartner:
    """The simulated user played by ``roles.user_sim`` (empty ``base_urls``: the serve section's
    address); refuses a server that does not answer now, rather than letting every question of
    a long run fail."""
    from looptool.agents.chat_models import make_chat_model
    from looptool.roles import role_settings

    urls = role_settings(config, ROLE).base_urls
    down = unreachable(urls)
    if down:
        raise UserError(f"the simulated user (train.simulated_user) needs a server for roles.user_sim; none answers "
                        f"at {', '.join(down)}: start one (e.g. looptool serve) and set roles.user_sim.base_urls")
    return SimulatedUserPartner(lambda: make_chat_model(config, ROLE))
