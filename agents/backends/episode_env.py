"""Episode environments: executable backends shaped as TRL ``environment_factory`` classes.

TRL's ``GRPOTrainer(environment_factory=...)`` creates one environment per rollout, calls its
``reset(**dataset_row)`` before generation and exposes its public methods as the tools the
model may call; tool results are masked out of the loss. :func:`environment_class` builds such
a class for a set of backends: one method per backend tool, each a thin call into
:func:`~agents.backends.executor.execute_tool_call` (the same validation and error messages
as every other caller; no backend logic is copied). Nothing here imports TRL, so the same
class plays episodes for probing and held-out evaluation (:mod:`training.episode_rollout`).

An environment records every call with its result (:attr:`EpisodeEnvironment.steps`) and
gives the backends' final state (:attr:`EpisodeEnvironment.final_state`). TRL offers every
public method as a tool, so the base class has exactly one public method, ``reset``; the rest
are read-only properties and :func:`run_call`.

With a simulated user (``partner``; off by default) the class has one more tool, ``ask_user``:
the policy asks, the partner (the dialogue simulator's user role, :mod:`agents.episode_user`)
answers from the episode's :class:`~looptool.episodes.UserBrief`. It is a tool rather than a
user turn because TRL's tool loop ends a rollout at the first turn without a call and has no
hook for another user message; as a tool it works the same in training and in the project's
own rollouts. Questions are recorded apart from backend calls (:attr:`exchanges`) and never
count as calls for the shaped reward.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from looptool.agents.backends.base import ToolBackend
from looptool.agents.backends.executor import error_result
from looptool.agents.backends.registry import REGISTRY, BackendRegistry, create_backend
from looptool.episodes import Episode
from looptool.schema import ToolCall, ToolSpec

log = logging.getLogger(__name__)

#: Calls one episode may make in all (a model looping on calls inside one turn stops here).
MAX_CALLS_PER_EPISODE = 64
#: Questions one episode may put to the simulated user.
MAX_USER_QUESTIONS = 8
ASK_USER = "ask_user"
RESERVED_NAMES = frozenset({"reset", "get_reward", ASK_USER})
ASK_USER_SPEC = ToolSpec(
    name=ASK_USER,
    description="Ask the user a question when the request leaves out something you need; returns the user's answer.",
    parameters={"type": "object", "properties": {"question": {"type": "string", "description": "the question for the user"}},
                "required": ["question"]},
)


class EpisodeEnvironmentError(ValueError):
    """The backends cannot form an environment (tool names collide or are reserved), or an
    episode was given to the environment of other backends."""


@dataclass(frozen=True)
class EpisodeStep:
    """One executed call and what the backend answered (for ``ask_user``: the user's answer)."""

    call: ToolCall
    ok: bool
    content: str
    to_user: bool = False


class UserPartner(Protocol):
    """The simulated user behind ``ask_user``."""

    async def answer(self, episode: Episode, timeline: Sequence[EpisodeStep], question: str) -> str:
        """The user's answer to ``question``, given the episode and what happened so far."""
        ...


class EpisodeEnvironment:
    """Base of the generated environment classes; see the module docstring."""

    backend_names: ClassVar[tuple[str, ...]] = ()
    tool_specs: ClassVar[tuple[ToolSpec, ...]] = ()
    routes: ClassVar[dict[str, str]] = {}  # tool name -> backend name
    registry: ClassVar[BackendRegistry] = REGISTRY
    partner: ClassVar[UserPartner | None] = None

    def __init__(self) -> None:
        self._episode: Episode | None = None
        self._backends: dict[str, ToolBackend] = {}
        self._timeline: list[EpisodeStep] = []

    def reset(self, episode: Episode | str | dict[str, Any] | None = None, **row: Any) -> None:
        """Fresh backends in the episode's initial state (TRL passes the dataset row, whose
        ``episode`` column is the episode as JSON). Returns nothing: the prompt is complete."""
        if episode is None:
            raise EpisodeEnvironmentError("reset() needs the episode (the dataset's 'episode' column)")
        loaded = episode if isinstance(episode, Episode) else (
            Episode.model_validate_json(episode) if isinstance(episode, str) else Episode.model_validate(episode))
        if tuple(sorted(loaded.backends)) != self.backend_names:
            raise EpisodeEnvironmentError(
                f"episode {loaded.id!r} uses backends {sorted(loaded.backends)}, this environment serves "
                f"{list(self.backend_names)}")
        self._episode = loaded
        self._backends = {name: create_backend(name, loaded.initial_state.get(name), self.registry)
                          for name in self.backend_names}
        self._timeline = []

    # read-only views (properties are not exposed as tools)
    @property
    def episode(self) -> Episode:
        if self._episode is None:
            raise EpisodeEnvironmentError("the environment has not been reset with an episode")
        return self._episode

    @property
    def steps(self) -> list[EpisodeStep]:
        """The backend calls, in order (questions to the user left out)."""
        return [step for step in self._timeline if not step.to_user]

    @property
    def exchanges(self) -> list[EpisodeStep]:
        """The questions put to the simulated user, with its answers."""
        return [step for step in self._timeline if step.to_user]

    @property
    def timeline(self) -> list[EpisodeStep]:
        """Backend calls and questions to the user, in the order they happened."""
        return list(self._timeline)

    @property
    def final_state(self) -> dict[str, dict[str, Any]]:
        """Each backend's snapshot now."""
        return {name: backend.snapshot() for name, backend in self._backends.items()}

    def _call(self, tool: str, arguments: dict[str, Any]) -> str:
        """What a generated tool method does: run the call, return the text the model sees."""
        return self._execute(ToolCall(name=tool, arguments=arguments)).content

    async def _ask_user(self, question: str) -> str:
        """What the generated ``ask_user`` tool does."""
        return (await self._ask(ToolCall(name=ASK_USER, arguments={"question": question}))).content

    async def _ask(self, call: ToolCall) -> EpisodeStep:
        question = call.arguments.get("question")
        ok = False
        if self.partner is None or self._episode is None:
            content = error_result(call, "there is no simulated user in this rollout").content
        elif not isinstance(question, str) or not question.strip():
            content = error_result(call, "question must be a non-empty string").content
        elif len(self.exchanges) >= MAX_USER_QUESTIONS:
            content = error_result(call, f"question budget spent: an episode asks the user at most "
                                         f"{MAX_USER_QUESTIONS} questions").content
        else:
            try:
                content, ok = await self.partner.answer(self._episode, self.timeline, question), True
            except Exception as error:  # a dead user server must not kill the rollout; the model sees it
                log.warning("episode %s: the simulated user did not answer: %s", self._episode.id, error)
                content = error_result(call, f"the user did not answer ({type(error).__name__})").content
        step = EpisodeStep(call=call, ok=ok, content=content, to_user=True)
        self._timeline.append(step)
        return step

    def _execute(self, call: ToolCall) -> EpisodeStep:
        if len(self.steps) >= MAX_CALLS_PER_EPISODE:
            result = error_result(call, f"call budget spent: an episode makes at most {MAX_CALLS_PER_EPISODE} calls")
        elif not self._backends:
            result = error_result(call, "the environment has not been reset with an episode")
        elif call.name not in self.routes:
            available = ", ".join(sorted(self.routes))
            result = error_result(call, f"unknown tool {call.name!r} (available: {available})")
        else:
            result = self._backends[self.routes[call.name]].execute(call)
        step = EpisodeStep(call=call, ok=result.ok, content=result.content)
        self._timeline.append(step)
        return step


def run_call(environment: EpisodeEnvironment, call: ToolCall) -> EpisodeStep:
    """Execute one decoded backend call in ``environment``; failures (unknown tool, bad
    arguments, a backend error) come back as an error step, the text the model sees next."""
    return environment._execute(call)


async def run_turn_call(environment: EpisodeEnvironment, call: ToolCall) -> EpisodeStep:
    """:func:`run_call`, or the simulated user's answer for ``ask_user`` when there is one."""
    if call.name == ASK_USER and environment.partner is not None:
        return await environment._ask(call)
    return environment._execute(call)


async def ask_user(self: EpisodeEnvironment, question: str) -> str:
    """Ask the user a question when the request leaves out something you need; returns the user's answer.

    Args:
        question: the question for the user
    """
    return await self._ask_user(question)


def _tool_method(tool: str, spec: ToolSpec) -> Callable[..., str]:
    def method(self: EpisodeEnvironment, **arguments: Any) -> str:
        return self._call(tool, arguments)

    method.__name__ = tool
    method.__qualname__ = f"EpisodeEnvironment.{tool}"
    method.__doc__ = spec.description or tool
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    required = set(spec.required)
    for name in spec.properties:
        if name.isidentifier():
            default = inspect.Parameter.empty if name in required else None
            parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default))
    method.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return method


_CLASSES: dict[tuple[tuple[str, ...], int, int], type[EpisodeEnvironment]] = {}


def environment_class(backend_names: Sequence[str], registry: BackendRegistry = REGISTRY,
                      partner: UserPartner | None = None) -> type[EpisodeEnvironment]:
    """The environment class serving ``backend_names`` (cached per set of names), with the
    ``ask_user`` tool when a simulated user ``partner`` is given."""
    names = tuple(sorted(set(backend_names)))
    key = (names, id(registry), id(partner))
    if key in _CLASSES:
        return _CLASSES[key]
    specs: list[ToolSpec] = []
    routes: dict[str, str] = {}
    for backend in names:
        for spec in registry.get(backend).tool_specs():
            if spec.name in routes:
                raise EpisodeEnvironmentError(
                    f"tool {spec.name!r} is offered by both {routes[spec.name]!r} and {backend!r}; "
                    "an episode cannot use both backends")
            if spec.name in RESERVED_NAMES or spec.name.startswith("_"):
                raise EpisodeEnvironmentError(f"backend {backend!r}: tool name {spec.name!r} is reserved")
            routes[spec.name] = backend
            specs.append(spec)
    namespace: dict[str, Any] = {
        "backend_names": names, "tool_specs": (*specs, *([ASK_USER_SPEC] if partner else [])), "routes": routes,
        "registry": registry, "partner": partner,
        "__doc__": f"Episode environment over {', '.join(names)}{' with a simulated user' if partner else ''}.",
    }
    namespace.update({spec.name: _tool_method(spec.name, spec) for spec in specs})
    if partner is not None:
        namespace[ASK_USER] = ask_user
    cls = type(f"Env_{'_'.join(names)}{'_user' if partner else ''}", (EpisodeEnvironment,), namespace)
    _CLASSES[key] = cls
    return cls


def environment_for(episode: Episode, registry: BackendRegistry = REGISTRY,
                    partner: UserPartner | None = None) -> EpisodeEnvironment:
    """A fresh environment reset with ``episode``."""
    environment = environment_class(episode.backends, registry, partner)()
    environment.reset(episode)
    return environment


def tool_schemas(environment_type: type[EpisodeEnvironment]) -> list[dict[str, Any]]:
    """The tools as OpenAI function dicts, exactly as the single-step prompt lists them."""
    return [json.loads(json.dumps(spec.to_openai())) for spec in environment_type.tool_specs]
