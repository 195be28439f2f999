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
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from looptool.agents.backends.base import ToolBackend
from looptool.agents.backends.executor import error_result
from looptool.agents.backends.registry import REGISTRY, BackendRegistry, create_backend
from looptool.episodes import Episode
from looptool.schema import ToolCall, ToolSpec

#: Calls one episode may make in all (a model looping on calls inside one turn stops here).
MAX_CALLS_PER_EPISODE = 64
RESERVED_NAMES = frozenset({"reset", "get_reward"})


class EpisodeEnvironmentError(ValueError):
    """The backends cannot form an environment (tool names collide or are reserved), or an
    episode was given to the environment of other backends."""


@dataclass(frozen=True)
class EpisodeStep:
    """One executed call and what the backend answered."""

    call: ToolCall
    ok: bool
    content: str


class EpisodeEnvironment:
    """Base of the generated environment classes; see the module docstring."""

    backend_names: ClassVar[tuple[str, ...]] = ()
    tool_specs: ClassVar[tuple[ToolSpec, ...]] = ()
    routes: ClassVar[dict[str, str]] = {}  # tool name -> backend name
    registry: ClassVar[BackendRegistry] = REGISTRY

    def __init__(self) -> None:
        self._episode: Episode | None = None
        self._backends: dict[str, ToolBackend] = {}
        self._steps: list[EpisodeStep] = []

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
        self._steps = []

    # read-only views (properties are not exposed as tools)
    @property
    def episode(self) -> Episode:
        if self._episode is None:
            raise EpisodeEnvironmentError("the environment has not been reset with an episode")
        return self._episode

    @property
    def steps(self) -> list[EpisodeStep]:
        return list(self._steps)

    @property
    def final_state(self) -> dict[str, dict[str, Any]]:
        """Each backend's snapshot now."""
        return {name: backend.snapshot() for name, backend in self._backends.items()}

    def _call(self, tool: str, arguments: dict[str, Any]) -> str:
        """What a generated tool method does: run the call, return the text the model sees."""
        return self._execute(ToolCall(name=tool, arguments=arguments)).content

    def _execute(self, call: ToolCall) -> EpisodeStep:
        if len(self._steps) >= MAX_CALLS_PER_EPISODE:
            result = error_result(call, f"call budget spent: an episode makes at most {MAX_CALLS_PER_EPISODE} calls")
        elif not self._backends:
            result = error_result(call, "the environment has not been reset with an episode")
        elif call.name not in self.routes:
            available = ", ".join(sorted(self.routes))
            result = error_result(call, f"unknown tool {call.name!r} (available: {available})")
        else:
            result = self._backends[self.routes[call.name]].execute(call)
        step = EpisodeStep(call=call, ok=result.ok, content=result.content)
        self._steps.append(step)
        return step


def run_call(environment: EpisodeEnvironment, call: ToolCall) -> EpisodeStep:
    """Execute one decoded call in ``environment``; failures (unknown tool, bad arguments,
    a backend error) come back as an error step, the text the model sees next."""
    return environment._execute(call)


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


_CLASSES: dict[tuple[tuple[str, ...], int], type[EpisodeEnvironment]] = {}


def environment_class(backend_names: Sequence[str], registry: BackendRegistry = REGISTRY) -> type[EpisodeEnvironment]:
    """The environment class serving ``backend_names`` (cached per set of names)."""
    names = tuple(sorted(set(backend_names)))
    key = (names, id(registry))
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
        "backend_names": names, "tool_specs": tuple(specs), "routes": routes, "registry": registry,
        "__doc__": f"Episode environment over {', '.join(names)}.",
    }
    namespace.update({spec.name: _tool_method(spec.name, spec) for spec in specs})
    cls = type(f"Env_{'_'.join(names)}", (EpisodeEnvironment,), namespace)
    _CLASSES[key] = cls
    return cls


def environment_for(episode: Episode, registry: BackendRegistry = REGISTRY) -> EpisodeEnvironment:
    """A fresh environment reset with ``episode``."""
    environment = environment_class(episode.backends, registry)()
    environment.reset(episode)
    return environment


def tool_schemas(environment_type: type[EpisodeEnvironment]) -> list[dict[str, Any]]:
    """The tools as OpenAI function dicts, exactly as the single-step prompt lists them."""
    return [json.loads(json.dumps(spec.to_openai())) for spec in environment_type.tool_specs]
