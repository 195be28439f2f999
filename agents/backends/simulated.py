"""The LLM-simulated backend: answers calls of ANY :class:`ToolSpec` with a model.

Within one dialogue the simulator keeps a running **state summary** (the facts the world has
acquired: ids it handed out, balances, bookings, ...) and the recent call history; both go
into every prompt, and the model returns, as one structured JSON object, the outcome, the
result and the updated summary. Exact repeats of a call return the earlier result while no
call in between changed the state, so repeated reads always agree.

Checks that need no model run first: an unknown tool or arguments that break the tool's JSON
Schema come back as an error result at once. A reply whose ``result`` breaks the tool's
``returns`` schema is sent back with the violation (``max_attempts`` in all); then the call
fails with the reason. Nothing raises to the caller.

The model is any langchain ``BaseChatModel``. ``with_structured_output(schema,
method="json_schema")`` is used when the model supports it (ChatOpenAI against vLLM: the grammar
enforces the envelope); otherwise the reply text is parsed as JSON. Use
:meth:`SimulatedBackend.from_config` to get the configured role's model.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from looptool.agents.backends.base import ToolResult
from looptool.agents.backends.executor import describe_schema_errors, error_result
from looptool.agents.backends.settings import SimulatorSettings, ToolsSettings
from looptool.agents.role_call import parse_json_object
from looptool.config import LoopToolConfig
from looptool.schema import ToolCall, ToolSpec

log = logging.getLogger(__name__)

PROMPT_VERSION = "tool-simulator/1"

SYSTEM_PROMPT = """You are the backend of the tools listed below, for one conversation.
You receive one tool call at a time and answer with what the real system would return.

Rules:
- Stay consistent with the STATE SUMMARY and the EARLIER CALLS: the same entity keeps the
  same id, name and values; what was created, changed or deleted stays so.
- Invent realistic, specific values (names, ids, prices, dates) when nothing fixes them yet.
- If the call cannot succeed (unknown id, impossible request, missing permission), answer
  outcome "error" with a short error_message a real API would give; result is null then.
- "result" must follow the tool's return schema when the tool has one.
- "state_summary" is the COMPLETE updated summary of the world state after this call
  (keep every earlier fact that still holds, add the new ones); at most a few sentences.
- "changes_state" is true when this call created, changed or deleted something.
Answer with one JSON object only."""


class SimulatedCall(BaseModel):
    """One simulated call, kept for the history and the traces."""

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any]
    ok: bool
    content: str
    changes_state: bool = False
    reused: bool = False
    attempts: int = 0
    latency_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    problem: str | None = None


class SimulatorReply(BaseModel):
    """The structured reply the simulator's model gives for one call (extra keys ignored)."""

    model_config = ConfigDict(extra="ignore")

    outcome: Literal["success", "error"]
    result: Any = None
    error_message: str = ""
    state_summary: str = ""
    changes_state: bool = False


class SimulatorState(BaseModel):
    """What :meth:`SimulatedBackend.snapshot` returns."""

    model_config = ConfigDict(extra="forbid")

    state_summary: str = ""
    calls: list[SimulatedCall] = Field(default_factory=list)


def reply_schema(spec: ToolSpec) -> dict[str, Any]:
    """The JSON Schema of the model's reply for one call of ``spec``."""
    result_schema: dict[str, Any] = spec.returns if spec.returns else {}
    return {
        "title": "tool_result",
        "description": f"The result of a call of {spec.name}",
        "type": "object",
        "properties": {
            "outcome": {"type": "string", "enum": ["success", "error"]},
            "result": {"anyOf": [result_schema, {"type": "null"}]} if result_schema else {},
            "error_message": {"type": "string"},
            "state_summary": {"type": "string"},
            "changes_state": {"type": "boolean"},
        },
        "required": ["outcome", "result", "error_message", "state_summary", "changes_state"],
        "additionalProperties": False,
    }




def _text_of(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)


def _usage(message: BaseMessage | None) -> tuple[int, int]:
    usage = getattr(message, "usage_metadata", None) or {}
    return int(usage.get("input_tokens", 0) or 0), int(usage.get("output_tokens", 0) or 0)


def _canonical(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, sort_keys=True, ensure_ascii=False, default=str)


class SimulatedBackend:
    """Simulates the given tools with a chat model; implements :class:`ToolRunner`.

    One instance per dialogue: its state summary and history are that dialogue's world.
    """

    def __init__(
        self,
        tools: list[ToolSpec],
        model: BaseChatModel,
        *,
        settings: SimulatorSettings | None = None,
        scenario: dict[str, Any] | str | None = None,
    ) -> None:
        self.tools = {tool.name: tool for tool in tools}
        self.model = model
        self.settings = settings or SimulatorSettings()
        self.state = SimulatorState()
        self._cache: dict[tuple[str, str], SimulatedCall] = {}
        self._loop_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._thread_lock = threading.Lock()
        if scenario:
            self.load_scenario(scenario if isinstance(scenario, dict) else {"summary": scenario})

    @classmethod
    def from_config(
        cls,
        tools: list[ToolSpec],
        config: LoopToolConfig,
        *,
        scenario: dict[str, Any] | str | None = None,
        usage: Any = None,
        model: BaseChatModel | None = None,
    ) -> SimulatedBackend:
        """A simulator on the configured role's model (``tools.simulator.role``).

        ``usage`` (an ``looptool.usage.UsageRecorder``) records its tokens; pass ``model`` to
        share one chat model between many dialogues' simulators.
        """
        settings = config.section("tools", ToolsSettings).simulator
        if model is None:
            from looptool.agents.chat_models import make_chat_model

            model = make_chat_model(config, settings.role, usage=usage)
        return cls(tools, model, settings=settings, scenario=scenario)

    # --- ToolRunner --------------------------------------------------------------------------

    def tool_specs(self) -> list[ToolSpec]:
        return list(self.tools.values())

    def load_scenario(self, scenario: dict[str, Any]) -> None:
        """``{"summary": "text"}``, or any dict describing the initial world (shown as JSON)."""
        summary = scenario.get("summary") if set(scenario) == {"summary"} else None
        self.state = SimulatorState(
            state_summary=str(summary) if summary is not None else json.dumps(scenario, ensure_ascii=False)
        )
        self._cache.clear()

    def snapshot(self) -> dict[str, Any]:
        return self.state.model_dump(mode="json")

    def execute(self, call: ToolCall) -> ToolResult:
        """Simulate one call (blocking model calls); never raises. Thread-safe per instance."""
        with self._thread_lock:
            early = self._precheck(call)
            if early is not None:
                return early
            started = time.perf_counter()
            outcome = _Attempts(self, call)
            while outcome.next_messages is not None:
                outcome.take(self._invoke_sync(outcome.next_messages, call))
            return self._finish(call, outcome, started)

    async def aexecute(self, call: ToolCall) -> ToolResult:
        """Simulate one call (async model calls); never raises.

        Concurrent calls on one instance (parallel calls of one assistant step) run one after
        the other, so each sees the state summary the previous one left.
        """
        async with self._lock():
            early = self._precheck(call)
            if early is not None:
                return early
            started = time.perf_counter()
            outcome = _Attempts(self, call)
            while outcome.next_messages is not None:
                outcome.take(await self._invoke_async(outcome.next_messages, call))
            return self._finish(call, outcome, started)

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._loop_lock is None or self._loop_lock[0] is not loop:
            self._loop_lock = (loop, asyncio.Lock())
        return self._loop_lock[1]

    # --- internals ---------------------------------------------------------------------------

    def _precheck(self, call: ToolCall) -> ToolResult | None:
        spec = self.tools.get(call.name)
        if spec is None:
            offered = ", ".join(self.tools) or "none"
            return error_result(call, f"unknown tool {call.name!r} (available: {offered})", "simulated")
        problems = describe_schema_errors(spec.parameters, call.arguments)
        if problems:
            return error_result(call, f"invalid arguments for {call.name!r}: {'; '.join(problems[:5])}",
                                "simulated")
        cached = self._cache.get((call.name, _canonical(call.arguments)))
        if cached is not None and self.settings.reuse_identical_calls:
            self.state.calls.append(cached.model_copy(update={"reused": True, "attempts": 0,
                                                              "latency_s": 0.0, "input_tokens": 0,
                                                              "output_tokens": 0}))
            return ToolResult(name=call.name, call_id=call.id, ok=cached.ok, content=cached.content,
                              error=None if cached.ok else cached.problem, backend="simulated")
        return None

    def build_messages(self, call: ToolCall) -> list[BaseMessage]:
        """The prompt for one call: tools, state summary, recent history, the call."""
        tools_text = "\n".join(
            json.dumps({"name": spec.name, "description": spec.description,
                        "parameters": spec.parameters, "returns": spec.returns},
                       ensure_ascii=False)
            for spec in self.tools.values()
        )
        window = self.settings.history_window
        recent = self.state.calls[-window:] if window else []
        history = "\n".join(
            f"- {item.name}({_canonical(item.arguments)}) -> {item.content}" for item in recent
        ) or "(none)"
        spec = self.tools[call.name]
        return [
            SystemMessage(content=f"{SYSTEM_PROMPT}\n\nTOOLS:\n{tools_text}"),
            HumanMessage(
                content=(
                    f"STATE SUMMARY:\n{self.state.state_summary or '(empty: nothing is known yet)'}"
                    f"\n\nEARLIER CALLS:\n{history}\n\nCALL:\n{call.name}({_canonical(call.arguments)})"
                    f"\n\nReturn schema of {call.name}: "
                    f"{json.dumps(spec.returns) if spec.returns else 'any JSON value'}"
                )
            ),
        ]

    def _structured(self, spec: ToolSpec) -> Any:
        try:
            return self.model.with_structured_output(
                reply_schema(spec), method="json_schema", include_raw=True
            )
        except NotImplementedError:
            return None

    def _invoke_sync(self, messages: list[BaseMessage], call: ToolCall) -> _Reply:
        try:
            runnable = self._structured(self.tools[call.name])
            if runnable is None:
                return _Reply.from_message(self.model.invoke(messages))
            return _Reply.from_structured(runnable.invoke(messages))
        except Exception as error:  # network, server, parser: reported as the call's failure
            return _Reply(failure=f"model call failed: {type(error).__name__}: {error}", fatal=True)

    async def _invoke_async(self, messages: list[BaseMessage], call: ToolCall) -> _Reply:
        try:
            runnable = self._structured(self.tools[call.name])
            if runnable is None:
                return _Reply.from_message(await self.model.ainvoke(messages))
            return _Reply.from_structured(await runnable.ainvoke(messages))
        except Exception as error:
            return _Reply(failure=f"model call failed: {type(error).__name__}: {error}", fatal=True)

    def _finish(self, call: ToolCall, outcome: _Attempts, started: float) -> ToolResult:
        latency = time.perf_counter() - started
        reply = outcome.reply
        if reply is None:
            problem = f"simulated backend failed after {outcome.attempts} attempt(s): {outcome.problem}"
            log.warning("tool %s: %s", call.name, problem)
            record = SimulatedCall(name=call.name, arguments=call.arguments, ok=False,
                                   content=json.dumps({"error": problem}), attempts=outcome.attempts,
                                   latency_s=latency, input_tokens=outcome.input_tokens,
                                   output_tokens=outcome.output_tokens, problem=problem)
            self.state.calls.append(record)
            result = error_result(call, problem, "simulated")
            return result
        if reply.state_summary.strip():
            self.state.state_summary = reply.state_summary.strip()[: self.settings.max_summary_chars]
        ok = reply.outcome == "success"
        if ok:
            content = json.dumps(reply.result, ensure_ascii=False)
            error = None
        else:
            error = reply.error_message.strip() or "the call failed"
            content = json.dumps({"error": error}, ensure_ascii=False)
        record = SimulatedCall(name=call.name, arguments=call.arguments, ok=ok, content=content,
                               changes_state=reply.changes_state, attempts=outcome.attempts,
                               latency_s=latency, input_tokens=outcome.input_tokens,
                               output_tokens=outcome.output_tokens, problem=error)
        self.state.calls.append(record)
        if reply.changes_state:
            self._cache.clear()
        else:
            self._cache[(call.name, _canonical(call.arguments))] = record
        return ToolResult(name=call.name, call_id=call.id, ok=ok, content=content, error=error,
                          backend="simulated")


class _Reply(BaseModel):
    """One model answer: the parsed object, or why there is none."""

    data: dict[str, Any] | None = None
    text: str = ""
    failure: str | None = None
    fatal: bool = False  # the model call itself failed (already retried by the client)
    input_tokens: int = 0
    output_tokens: int = 0

    @classmethod
    def from_message(cls, message: BaseMessage) -> _Reply:
        text = _text_of(message)
        tokens_in, tokens_out = _usage(message)
        try:
            return cls(data=parse_json_object(text), text=text, input_tokens=tokens_in,
                       output_tokens=tokens_out)
        except ValueError as error:
            return cls(text=text, failure=str(error), input_tokens=tokens_in, output_tokens=tokens_out)

    @classmethod
    def from_structured(cls, output: Any) -> _Reply:
        if not isinstance(output, dict) or "raw" not in output:
            return cls(data=output if isinstance(output, dict) else None,
                       failure=None if isinstance(output, dict) else "the reply is not a JSON object")
        raw = output.get("raw")
        raw_message = raw if isinstance(raw, AIMessage) else None
        tokens_in, tokens_out = _usage(raw_message)
        parsed = output.get("parsed")
        text = _text_of(raw_message) if raw_message is not None else ""
        if isinstance(parsed, dict):
            return cls(data=parsed, text=text, input_tokens=tokens_in, output_tokens=tokens_out)
        if raw_message is not None:  # the structured parser failed: try the text ourselves
            fallback = cls.from_message(raw_message)
            return fallback
        return cls(failure=f"no parsable reply ({output.get('parsing_error')})")


class _Attempts:
    """The bounded retry loop of one call, shared by the sync and async paths."""

    def __init__(self, backend: SimulatedBackend, call: ToolCall) -> None:
        self.backend = backend
        self.call = call
        self.spec = backend.tools[call.name]
        self.messages = backend.build_messages(call)
        self.next_messages: list[BaseMessage] | None = self.messages
        self.attempts = 0
        self.problem = ""
        self.reply: SimulatorReply | None = None
        self.input_tokens = 0
        self.output_tokens = 0

    def take(self, answer: _Reply) -> None:
        self.attempts += 1
        self.input_tokens += answer.input_tokens
        self.output_tokens += answer.output_tokens
        problem = answer.failure
        reply: SimulatorReply | None = None
        if problem is None and answer.data is not None:
            problem, reply = self._check(answer.data)
        if problem is None and reply is not None:
            self.reply = reply
            self.next_messages = None
            return
        self.problem = problem or "no reply"
        if answer.fatal or self.attempts >= self.backend.settings.max_attempts:
            self.next_messages = None
            return
        self.next_messages = [
            *self.messages,
            AIMessage(content=answer.text or json.dumps(answer.data or {})),
            HumanMessage(content=f"That reply was not usable: {self.problem}. "
                                 "Answer again with one JSON object following the rules."),
        ]

    def _check(self, data: dict[str, Any]) -> tuple[str | None, SimulatorReply | None]:
        try:
            reply = SimulatorReply.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "<reply>"
            return f"field '{where}' of the reply: {first['msg']}", None
        if reply.outcome == "success" and self.spec.returns:
            problems = describe_schema_errors(self.spec.returns, reply.result)
            if problems:
                return f"result does not follow the return schema: {'; '.join(problems[:5])}", None
        return None, reply
