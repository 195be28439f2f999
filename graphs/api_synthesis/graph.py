"""The API-synthesis StateGraph: sample both trees, merge, generate, rule-validate, retry.

::

    START -> sample_trees -> merge_request -> generate -> validate -> accept -> END
                                                 ^   |        |  \\
                                                 |   v        |   -> drop -> END
                                                 +-- (retry with the violations fed back)

``generate`` goes straight to ``drop`` when the model *server* fails (after the client's
own retries); such a reject is marked ``retryable`` and a resumed run tries it again.
Every node is recorded as a trace event (``traces.sqlite`` of the run) under the request's
id, with the model call, its tokens and the verdict.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from looptool.agents.api_generator import (
    ROLE,
    ApiGenerator,
    PreviousAttempt,
    draft_to_spec,
    example_draft,
)
from looptool.agents.role_call import RoleOutputError
from looptool.config import ConfigError
from looptool.graphs.api_synthesis.library import KnownTools
from looptool.graphs.api_synthesis.rules import Rule, Violation, check_rules
from looptool.graphs.api_synthesis.sampling import (
    constraint_path,
    context_leaf,
    merge_request,
    sample_id,
)
from looptool.graphs.api_synthesis.settings import ApiSynthSettings
from looptool.graphs.api_synthesis.state import (
    ApiSynthesisInput,
    ApiSynthesisOutput,
    ApiSynthesisState,
    AttemptRecord,
)
from looptool.graphs.api_synthesis.trees import (
    ConstraintTree,
    ContextTree,
    load_constraint_tree,
    load_context_tree,
)
from looptool.schema import ToolSpec
from looptool.traces import EventKind, TokenUsage, TraceStore

TRACE_KIND = "api_synthesis"


@dataclass
class ApiSynthesisDeps:
    """What the nodes need: the generator, both trees, the known tools, settings, traces."""

    generator: ApiGenerator
    context_tree: ContextTree
    constraint_tree: ConstraintTree
    known: KnownTools
    settings: ApiSynthSettings = field(default_factory=ApiSynthSettings)
    seed: int = 0
    traces: TraceStore | None = None

    @classmethod
    def create(
        cls,
        model: BaseChatModel,
        settings: ApiSynthSettings | None = None,
        *,
        seed: int = 0,
        existing_tools: list[ToolSpec] | None = None,
        traces: TraceStore | None = None,
    ) -> ApiSynthesisDeps:
        """Load the trees named in ``settings`` and index ``existing_tools`` for duplicates."""
        settings = settings or ApiSynthSettings()
        known = KnownTools(schema_min_params=settings.duplicate_schema_min_params)
        known.add_all(existing_tools or [], "existing tool")
        if settings.reject_example_copies:
            known.add(example_draft("snake_case") | {"parameters": _example_parameters()}, "the prompt's example")
        deps = cls(
            generator=ApiGenerator(model, settings.prompts, max_attempts=settings.max_attempts),
            context_tree=load_context_tree(settings.context_tree),
            constraint_tree=load_constraint_tree(settings.constraint_tree),
            known=known,
            settings=settings,
            seed=seed,
            traces=traces,
        )
        deps.check_prompts()
        return deps

    def check_prompts(self) -> None:
        """Render every prompt once so a bad override fails before any model call."""
        leaf = context_leaf(self.context_tree, self.seed, 0)
        path = constraint_path(self.constraint_tree, self.seed, 0)
        request = merge_request(leaf, self.constraint_tree, path, index=0)
        try:
            self.generator.messages(request, [PreviousAttempt(answer="{}", problems=["example"])])
        except RoleOutputError as error:
            raise ConfigError(f"api_synth.prompts: {error}") from None


def _example_parameters() -> dict[str, Any]:
    example = example_draft("snake_case")
    return {"type": "object", "properties": example["parameters"], "required": example["required"]}


def _summary(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


class ApiSynthesisNodes:
    """The graph's nodes; each returns a ``Command`` whose ``Literal`` names where it may go."""

    def __init__(self, deps: ApiSynthesisDeps) -> None:
        self.deps = deps

    # ------------------------------------------------------------------ tracing

    def _trace(
        self,
        state: ApiSynthesisState,
        node: str,
        goto: str,
        started: float,
        *,
        kind: EventKind = EventKind.NODE,
        content: str = "",
        data: dict[str, Any] | None = None,
        usage: TokenUsage | None = None,
    ) -> None:
        traces = self.deps.traces
        if traces is None:
            return
        traces.record(
            state.get("sample_id") or sample_id(state["index"]),
            kind,
            node=node,
            role=ROLE if kind == EventKind.LLM_CALL else None,
            content=content,
            data={"goto": goto, **(data or {})},
            started_at=started,
            usage=usage,
        )

    # ------------------------------------------------------------------ nodes

    def sample_trees(self, state: ApiSynthesisState) -> Command[Literal["merge_request"]]:
        """Draw one context leaf and one constraint path, seeded by the request index."""
        started = time.time()
        index = state["index"]
        identifier = sample_id(index)
        leaf = context_leaf(self.deps.context_tree, self.deps.seed, index)
        path = constraint_path(self.deps.constraint_tree, self.deps.seed, index)
        if self.deps.traces is not None:
            self.deps.traces.start(
                identifier,
                kind=TRACE_KIND,
                metadata={"index": index, "context": leaf.path, "constraints": path.as_list()},
            )
        update = {"sample_id": identifier, "leaf": leaf, "constraints": path}
        self._trace(
            {**state, **update},  # type: ignore[typeddict-item]
            "sample_trees",
            "merge_request",
            started,
            data={"context": leaf.path, "constraints": path.model_dump()},
        )
        return Command(goto="merge_request", update=update)

    def merge_request(self, state: ApiSynthesisState) -> Command[Literal["generate"]]:
        """Merge the two paths into the generator's request."""
        started = time.time()
        settings = self.deps.settings
        request = merge_request(
            state["leaf"],
            self.deps.constraint_tree,
            state["constraints"],
            index=state["index"],
            min_description_chars=settings.min_description_chars,
            min_function_name_words=settings.min_function_name_words,
        )
        self._trace(state, "merge_request", "generate", started, data={"request": request.model_dump(mode="json")})
        return Command(goto="generate", update={"request": request})

    async def generate(self, state: ApiSynthesisState) -> Command[Literal["validate", "drop"]]:
        """Ask the generator, feeding back every earlier attempt's violations."""
        started = time.time()
        history = [
            PreviousAttempt(
                answer=record.raw_text or "(no usable answer)",
                problems=[str(violation) for violation in record.violations] or [record.error or "unusable"],
            )
            for record in state.get("attempts", [])
        ]
        outcome = await self.deps.generator.agenerate(state["request"], history)
        goto: Literal["validate", "drop"] = "drop" if outcome.error_kind == "model" else "validate"
        self._trace(
            state,
            "generate",
            goto,
            started,
            kind=EventKind.LLM_CALL,
            content=outcome.raw_text,
            data={
                "messages_in": outcome.messages,
                "attempt": len(history) + 1,
                "prompt_version": self.deps.generator.prompt_version,
                **({"error": outcome.error} if outcome.error else {}),
            },
            usage=TokenUsage(outcome.prompt_tokens, outcome.completion_tokens),
        )
        if goto == "drop":
            record = AttemptRecord(
                attempt=len(history) + 1,
                error=outcome.error,
                violations=[Violation(rule=Rule.MODEL_ERROR, message=outcome.error or "model call failed")],
                latency_s=outcome.latency_s,
            )
            return Command(goto="drop", update={"attempts": [record], "outcome": None, "retryable": True})
        return Command(goto="validate", update={"outcome": outcome})

    def validate(self, state: ApiSynthesisState) -> Command[Literal["accept", "generate", "drop"]]:
        """Rule-check the candidate; on success claim its name/schema against duplicates."""
        started = time.time()
        outcome = state.get("outcome")
        attempt = len(state.get("attempts", [])) + 1
        candidate: dict[str, Any] | None = None
        if outcome is None or outcome.draft is None:
            error = outcome.error if outcome is not None else "no generation"
            violations = [Violation(rule=Rule.OUTPUT_FORMAT, message=error or "no answer")]
        else:
            candidate = draft_to_spec(outcome.draft)
            violations = check_rules(candidate, state["request"])
            if not violations:
                duplicate = self.deps.known.claim(candidate, f"{state['sample_id']} {candidate['name']!r} of this run")
                violations = [duplicate] if duplicate is not None else []
        record = AttemptRecord(
            attempt=attempt,
            raw_text=outcome.raw_text if outcome is not None else "",
            candidate=candidate,
            violations=violations,
            error=outcome.error if outcome is not None else None,
            prompt_tokens=outcome.prompt_tokens if outcome is not None else None,
            completion_tokens=outcome.completion_tokens if outcome is not None else None,
            latency_s=outcome.latency_s if outcome is not None else 0.0,
        )
        goto: Literal["accept", "generate", "drop"]
        if not violations:
            goto = "accept"
        elif attempt < self.deps.settings.max_attempts:
            goto = "generate"
        else:
            goto = "drop"
        self._trace(
            state,
            "validate",
            goto,
            started,
            kind=EventKind.VERDICT,
            content="ok" if not violations else "\n".join(str(violation) for violation in violations),
            data={"attempt": attempt, "rules": sorted({violation.rule.value for violation in violations})},
        )
        return Command(goto=goto, update={"attempts": [record], "outcome": None})

    def accept(self, state: ApiSynthesisState) -> Command[Literal["__end__"]]:
        """Keep the validated tool."""
        started = time.time()
        candidate = state["attempts"][-1].candidate
        tool = ToolSpec.model_validate(candidate)
        self._trace(state, "accept", "__end__", started, content=tool.name)
        if self.deps.traces is not None:
            self.deps.traces.finish(
                state["sample_id"], "accepted", metadata={"tool": tool.name, "attempts": len(state["attempts"])}
            )
        return Command(
            goto="__end__",
            update={"status": "accepted", "tool": tool, "reason": None, "reject_rule": None, "retryable": False},
        )

    def drop(self, state: ApiSynthesisState) -> Command[Literal["__end__"]]:
        """Give up: record why (the last attempt's violations)."""
        started = time.time()
        attempts = state.get("attempts", [])
        last = attempts[-1].violations if attempts else []
        rule = last[0].rule.value if last else Rule.OUTPUT_FORMAT.value
        reason = (
            f"dropped after {len(attempts)} attempt(s): "
            + "; ".join(str(violation) for violation in last)
        )
        self._trace(state, "drop", "__end__", started, content=reason)
        if self.deps.traces is not None:
            self.deps.traces.finish(
                state["sample_id"],
                "failed" if state.get("retryable") else "rejected",
                metadata={"reason": reason, "rule": rule, "attempts": len(attempts)},
            )
        return Command(
            goto="__end__",
            update={
                "status": "rejected",
                "tool": None,
                "reason": reason,
                "reject_rule": rule,
                "retryable": bool(state.get("retryable", False)),
            },
        )


def build_api_synthesis_graph(
    deps: ApiSynthesisDeps,
) -> StateGraph[ApiSynthesisState, None, ApiSynthesisInput, ApiSynthesisOutput]:
    """The uncompiled graph wired to ``deps`` (compile it, or use :func:`compile_api_synthesis_graph`)."""
    nodes = ApiSynthesisNodes(deps)
    builder = StateGraph(ApiSynthesisState, input_schema=ApiSynthesisInput, output_schema=ApiSynthesisOutput)
    builder.add_node("sample_trees", nodes.sample_trees)
    builder.add_node("merge_request", nodes.merge_request)
    builder.add_node("generate", nodes.generate)
    builder.add_node("validate", nodes.validate)
    builder.add_node("accept", nodes.accept)
    builder.add_node("drop", nodes.drop)
    builder.add_edge(START, "sample_trees")
    return builder


def compile_api_synthesis_graph(deps: ApiSynthesisDeps) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The compiled graph (name ``api_synthesis``)."""
    return build_api_synthesis_graph(deps).compile(name="api_synthesis")


def recursion_limit(settings: ApiSynthSettings) -> int:
    """Enough super-steps for every attempt (generate + validate) plus the fixed nodes."""
    return 2 * settings.max_attempts + 8


def generator_overrides(settings: ApiSynthSettings) -> dict[str, Any]:
    """``ChatOpenAI`` keyword overrides for the generator from the ``api_synth`` section."""
    pairs = (("max_tokens", settings.max_tokens), ("temperature", settings.temperature))
    return {key: value for key, value in pairs if value is not None}


def make_graph(config: RunnableConfig | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Graph factory for ``langgraph.json`` / LangGraph Studio: the default recipe (or the
    file in env ``LOOPTOOL_CONFIG``) with the ``generator`` role's served model; no traces."""
    import os

    from looptool.agents.chat_models import make_chat_model
    from looptool.config import load_config

    loop_config = load_config(os.environ.get("LOOPTOOL_CONFIG"))
    settings = loop_config.section("api_synth", ApiSynthSettings)
    model = make_chat_model(loop_config, ROLE, **generator_overrides(settings))
    seed = settings.seed if settings.seed is not None else loop_config.run.seed
    return compile_api_synthesis_graph(ApiSynthesisDeps.create(model, settings, seed=seed))


def describe(result: dict[str, Any]) -> str:
    """One line for logs: the accepted tool's name or the reject reason."""
    if result.get("status") == "accepted" and result.get("tool") is not None:
        return f"{result.get('sample_id')}: accepted {result['tool'].name}"
    return f"{result.get('sample_id')}: {json.dumps(result.get('reason'))}"
