"""The BFCL-v3 benchmark adapter (``bfcl_v3``).

Data, tool conversion, multi-turn backends and the checkers all come from the official
``bfcl-eval==2025.8.6.2`` package, run in its own environment by
:mod:`benchmarks.bfcl.worker` (the package pins numpy 1.26, which breaks the training
environment). This module only talks to the model and translates between the two sides.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from looptool.benchmarks.base import (
    Benchmark,
    BenchmarkOptions,
    BenchmarkSummary,
    ChatModel,
    EndpointMode,
    EntryOutput,
    EntryScore,
    EvalEntry,
    ModelReply,
    TurnOutput,
    register_benchmark,
)
from looptool.benchmarks.bfcl import prompting
from looptool.benchmarks.bfcl.categories import ALIASES, ALL, is_multi_turn, summarize_scores
from looptool.benchmarks.bfcl.decode import decode_prompt_reply, strip_think
from looptool.benchmarks.bfcl.prompting import ADDITIONAL_FUNCTION_PROMPT
from looptool.benchmarks.bfcl.worker_client import BfclWorker, shared_worker
from looptool.benchmarks.runner.chat import render_request
from looptool.schema import Message, Role, ToolCall, ToolSpec, load_tool_spec

MAXIMUM_STEP_LIMIT = 20
"""BFCL's per-turn step limit (``default_prompts.MAXIMUM_STEP_LIMIT``)."""

FcTools = Literal["bfcl_qwen", "openai"]


class BfclOptions(BenchmarkOptions):
    """Options of ``bfcl_v3`` (config: ``eval.benchmark_options.bfcl_v3``)."""

    data_dir: str | None = Field(
        default=None, description="BFCL data folder (default: the one inside the bfcl-eval package)"
    )
    python: str | None = Field(
        default=None, description="interpreter of the BFCL environment (default: .venvs/bfcl/bin/python)"
    )
    max_steps: int = Field(default=MAXIMUM_STEP_LIMIT, ge=1, description="model steps per multi-turn turn")
    fc_tools: FcTools = Field(
        default="bfcl_qwen",
        description="function_calling tools: 'bfcl_qwen' as BFCL's Qwen FC handler (Gorilla docs with language "
        "hints, dotted names kept); 'openai' for strict OpenAI APIs (JSON-Schema types, dots renamed to '_')",
    )


def _tool_spec(function: dict[str, Any], name: str | None = None) -> ToolSpec:
    """A BFCL tool (already converted to OpenAPI types by BFCL) as our ToolSpec; a
    ``response`` schema goes into the description, as BFCL does for most API styles."""
    data = {key: value for key, value in function.items() if key != "response"}
    if "response" in function:
        data["description"] = (
            f"{data.get('description', '')} The response field has the following schema: "
            f"{json.dumps(function['response'])}"
        )
    if name is not None:
        data["name"] = name
    return load_tool_spec(data)


class _ToolNames:
    """Function-calling tools in the chosen style; decoded calls get their BFCL names back.

    ``bfcl_qwen`` offers BFCL's Gorilla docs as they are (dotted names kept, as BFCL's Qwen FC
    handler does); ``openai`` offers BFCL's OpenAI conversion with ``a.b`` renamed ``a_b``."""

    def __init__(self, style: FcTools) -> None:
        self.rename = style == "openai"
        self.style = style
        self.back: dict[str, str] = {}

    def shown(self, name: str) -> str:
        return re.sub(r"\.", "_", name) if self.rename else name

    def openai_tools(self, entry_tools: list[dict[str, Any]], docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        functions = docs if self.style == "bfcl_qwen" else entry_tools
        tools = []
        for function in functions:
            shown = self.shown(function["name"])
            self.back.setdefault(shown, function["name"])
            if self.style == "bfcl_qwen":
                tools.append({"type": "function", "function": {**function, "name": shown}})
            else:
                tools.append(_tool_spec(function, shown).to_openai())
        return tools

    def restore(self, reply: ModelReply) -> ModelReply:
        if not self.back or not reply.tool_calls:
            return reply
        calls = [call.model_copy(update={"name": self.back.get(call.name, call.name)}) for call in reply.tool_calls]
        return reply.model_copy(update={"tool_calls": calls})


def _messages(turn: list[dict[str, Any]]) -> list[Message]:
    return [Message(role=Role(item["role"]), content=str(item.get("content") or "")) for item in turn]


def _calls(reply: ModelReply) -> list[dict[str, Any]]:
    return [{"name": call.name, "arguments": call.arguments} for call in reply.tool_calls]


def _specs(functions: list[dict[str, Any]]) -> list[ToolSpec]:
    return [_tool_spec(function) for function in functions]


@register_benchmark
class BfclV3(Benchmark):
    """Berkeley Function Calling Leaderboard v3: 17 categories, 4,441 entries."""

    name = "bfcl_v3"
    version = "2"
    Options = BfclOptions
    output_neutral_options = frozenset({"python", "data_dir"})

    def __init__(self, options: BenchmarkOptions | dict[str, Any] | None = None) -> None:
        super().__init__(options)
        assert isinstance(self.options, BfclOptions)
        self.settings: BfclOptions = self.options

    @property
    def worker(self) -> BfclWorker:
        """The process-wide worker for this environment + data folder (kept warm; it is
        closed at interpreter exit, so :meth:`close` has nothing to release)."""
        return shared_worker(self.settings.python, self.settings.data_dir)

    def categories(self) -> list[str]:
        return list(ALL)

    def category_aliases(self) -> dict[str, list[str]]:
        return {name: list(items) for name, items in ALIASES.items()}

    def load(self, categories: list[str], limit: int | None = None) -> list[EvalEntry]:
        loaded = self.worker.call("load", categories=categories, limit=limit)
        tool_sets: dict[str, dict[str, Any]] = loaded["tool_sets"]
        entries = []
        for record in loaded["entries"]:
            if "tool_set" in record:  # multi-turn: one shared tool list per backend combination
                record.update(tool_sets[record.pop("tool_set")])
            entries.append(EvalEntry.model_construct(id=record["id"], category=record["category"], payload=record))
        return entries

    # ------------------------------------------------------------ talking to the model

    async def decode_prompt(self, reply: ModelReply, language: str) -> ModelReply:
        """Decode a ``prompt_python`` reply as BFCL's Qwen prompt handler does: think block
        removed, then ``default_decode_ast_prompting`` (Python here without ``eval``, Java and
        JavaScript by BFCL's own parsers in the worker)."""
        if reply.error:
            return reply
        raw = reply.raw or reply.text
        if language == "Python":
            decoded = decode_prompt_reply(raw)
            calls, error, text = decoded.calls, decoded.error, decoded.text
        else:
            text, _ = strip_think(raw)
            result = await self.worker.acall("decode", text=text, language=language)
            calls, error = result.get("calls") or [], result.get("error")
        tool_calls = [
            ToolCall(name=name, arguments=arguments) for call in calls for name, arguments in call.items()
        ]
        return reply.model_copy(
            update={"text": text, "raw": raw, "tool_calls": [] if error else tool_calls, "parse_error": error}
        )

    async def _ask(
        self, model: ChatModel, entry: EvalEntry, history: list[Message], prompt: list[dict[str, Any]],
        tools: list[dict[str, Any]], names: _ToolNames, specs: list[ToolSpec],
    ) -> ModelReply:
        """One request in the endpoint's mode; ``prompt`` is the BFCL-rendered conversation
        (``prompt_python``), ``history`` the structured one (the other modes)."""
        mode = model.endpoint.mode
        if mode is EndpointMode.PROMPT_PYTHON:
            reply = await model.chat_raw(list(prompt))  # a copy: the conversation grows after this request
            return await self.decode_prompt(reply, entry.payload.get("language", "Python"))
        if mode is EndpointMode.FUNCTION_CALLING:
            rendered = render_request(EndpointMode.FUNCTION_CALLING, history, []).messages
            return names.restore(await model.chat_raw(rendered, tools or None))
        return await model.chat(history, specs)

    async def run_entry(self, entry: EvalEntry, model: ChatModel) -> EntryOutput:
        if is_multi_turn(entry.category):
            return await self._run_multi_turn(entry, model)
        started = time.perf_counter()
        names = _ToolNames(self.settings.fc_tools)
        question = entry.payload["question"][0]
        docs = entry.payload.get("docs", entry.payload["tools"])
        reply = await self._ask(
            model, entry, _messages(question), prompting.first_turn(question, docs),
            names.openai_tools(entry.payload["tools"], docs), names, _specs(entry.payload["tools"]),
        )
        return EntryOutput(
            entry_id=entry.id,
            category=entry.category,
            turns=[TurnOutput(replies=[reply])],
            requests=1,
            latency_s=time.perf_counter() - started,
        )

    async def _run_multi_turn(self, entry: EvalEntry, model: ChatModel) -> EntryOutput:
        """BFCL's ``inference_multi_turn_*`` loop: per user turn, query until the model
        stops calling tools (or fails to decode), executing each step's calls on BFCL's
        backends; more than ``max_steps`` steps force-quits the entry."""
        started = time.perf_counter()
        session = self.worker.new_session()
        mode = model.endpoint.mode
        names = _ToolNames(self.settings.fc_tools)
        payload = entry.payload
        docs = payload.get("docs", payload["tools"])
        tools = names.openai_tools(payload["tools"], docs)
        specs = _specs(payload["tools"])
        held_out: dict[str, list[dict[str, Any]]] = payload.get("held_out_tools", {})
        held_out_docs: dict[str, list[dict[str, Any]]] = payload.get("held_out_docs", held_out)
        history: list[Message] = []
        prompt: list[dict[str, Any]] = []
        turns: list[TurnOutput] = []
        requests = 0
        error: str | None = None
        await self.worker.acall("mt_start", session=session, entry_id=entry.id)
        try:
            for index, question in enumerate(payload["question"]):
                user = _messages(question)
                rendered = [{"role": m.role.value, "content": m.content} for m in user]
                if str(index) in held_out:
                    added = held_out[str(index)]
                    if mode is EndpointMode.FUNCTION_CALLING and names.style == "bfcl_qwen":
                        # BFCL's Qwen FC handler runs BFCL's prompting loop: the held-out docs go
                        # into the user message; its tool list stays as it was
                        content = prompting.additional_functions(held_out_docs[str(index)])["content"]
                    elif mode is EndpointMode.FUNCTION_CALLING:  # BFCL's API FC handlers: new tools
                        tools = [*tools, *names.openai_tools(added, held_out_docs[str(index)])]
                        content = ADDITIONAL_FUNCTION_PROMPT
                    else:  # prompt modes: the new docs go into the user message, as BFCL's
                        specs = [*specs, *_specs(added)]
                        content = f"{json.dumps([t.to_openai()['function'] for t in _specs(added)])}\n{ADDITIONAL_FUNCTION_PROMPT}"
                    user = [Message(role=Role.USER, content=content)]
                    rendered = [prompting.additional_functions(held_out_docs[str(index)])]
                history.extend(user)
                prompt.extend(prompting.first_turn(question, docs) if index == 0 else rendered)
                turn = TurnOutput()
                turns.append(turn)
                steps = 0
                while True:
                    reply = await self._ask(model, entry, history, prompt, tools, names, specs)
                    requests += 1
                    prompt.append({"role": "assistant", "content": reply.text})  # BFCL: the think-stripped text
                    if not reply.decoded:
                        history.append(Message(role=Role.ASSISTANT, content=reply.raw or reply.text))
                        turn.replies.append(reply)
                        break
                    shown = [
                        ToolCall(name=names.shown(call.name), arguments=call.arguments, id=f"call_{requests}_{n}")
                        for n, call in enumerate(reply.tool_calls)
                    ]
                    history.append(Message(role=Role.ASSISTANT, content=reply.text, tool_calls=shown))
                    results = await self.worker.acall(
                        "mt_execute", session=session, entry_id=entry.id, calls=_calls(reply)
                    )
                    turn.replies.append(reply.model_copy(update={"tool_results": results}))
                    history.extend(
                        Message(role=Role.TOOL, content=result, name=call.name, tool_call_id=call.id)
                        for call, result in zip(shown, results, strict=True)
                    )
                    prompt.append(prompting.tool_results(results))
                    steps += 1
                    if steps > self.settings.max_steps:
                        error = f"force-terminated after {steps} steps in turn {index}"
                        break
                if error:
                    break
        finally:
            await self.worker.acall("mt_end", session=session)
        return EntryOutput(
            entry_id=entry.id,
            category=entry.category,
            turns=turns,
            error=error,
            requests=requests,
            latency_s=time.perf_counter() - started,
        )

    # ------------------------------------------------------------ scoring (official checkers)

    @staticmethod
    def decoded_for_checker(entry: EvalEntry, output: EntryOutput) -> dict[str, Any]:
        """What BFCL's checkers get: single-turn ``{"calls": [...]}`` or ``{"error": ...}``;
        multi-turn ``{"turns": [[step calls, ...], ...]}`` (undecodable steps skipped, as in
        BFCL's ``multi_turn_runner``)."""
        if is_multi_turn(entry.category):
            return {
                "turns": [[_calls(reply) for reply in turn.replies if reply.decoded] for turn in output.turns]
            }
        replies = output.replies
        if not replies:
            return {"error": output.error or "no model reply"}
        reply = replies[0]
        if reply.error or reply.parse_error:
            return {"error": reply.error or reply.parse_error}
        return {"calls": _calls(reply)}

    def score_batch(self, entries: Sequence[EvalEntry], outputs: Sequence[EntryOutput]) -> list[EntryScore]:
        items = [
            {"id": entry.id, "decoded": self.decoded_for_checker(entry, output)}
            for entry, output in zip(entries, outputs, strict=True)
        ]
        verdicts = self.worker.call("score", items=items) if items else []
        scores = []
        for entry, output, verdict in zip(entries, outputs, verdicts, strict=True):
            error_type = str(verdict.get("error_type") or "")
            request_failed = any(reply.error for reply in output.replies)
            scores.append(
                EntryScore(
                    entry_id=entry.id,
                    category=entry.category,
                    score=1.0 if verdict["valid"] else 0.0,
                    valid=not request_failed and not error_type.startswith("ast_decoder"),
                    details={"error_type": error_type, "error": verdict.get("error")} if error_type else {},
                )
            )
        return scores

    def score(self, entry: EvalEntry, output: EntryOutput) -> EntryScore:
        return self.score_batch([entry], [output])[0]

    def summarize(self, scores: Sequence[EntryScore]) -> BenchmarkSummary:
        return summarize_scores(self.name, scores)

    def prompt_fingerprint(self, mode: EndpointMode) -> str:
        """BFCL's prompt texts and the prompting conversation of a fixed probe entry."""
        probe = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
        docs = [{"name": "probe.f", "description": "D", "parameters": {"type": "dict", "properties": {}}}]
        parts = [
            prompting.first_turn(probe, docs), prompting.tool_results(["R1", "R2"]),
            prompting.additional_functions(docs), self.settings.fc_tools, mode.value,
        ]
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]

    def mode_notes(self, mode: EndpointMode) -> list[str]:
        if mode is EndpointMode.PROMPT_PYTHON:
            return [
                "prompt and decoding of BFCL's Qwen prompt handler (bfcl-eval 2025.8.6.2, think block stripped); "
                "differs: arithmetic in arguments is computed on constants only, never eval'ed"
            ]
        if mode is EndpointMode.FUNCTION_CALLING and self.settings.fc_tools == "bfcl_qwen":
            return [
                "tool docs of BFCL's Qwen FC handler (Gorilla types, dotted names); differs: sent as OpenAI tools "
                "through the chat API and decoded by the server's tool parser, not BFCL's raw prompt and regex"
            ]
        if mode is EndpointMode.FUNCTION_CALLING:
            return ["fc_tools=openai: OpenAI-converted tools, dots renamed to '_': not a BFCL Qwen handler"]
        return ["prompt_hermes: LoopTool's training prompt, not a leaderboard configuration"]


# ---------------------------------------------------------------- ground-truth outputs


def _first_option(options: Any) -> Any:
    """The first allowed value of a possible-answer list, with nested possible answers
    (dicts whose values are option lists, inside dicts or lists) resolved recursively."""
    return _resolve(options[0]) if isinstance(options, list) and options else options


def _resolve(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _first_option(options) for key, options in value.items() if _present(options)}
    if isinstance(value, list):
        return [_resolve(item) for item in value]
    return value


def _present(options: Any) -> bool:
    return not (isinstance(options, list) and options and options[0] == "")


def _java_literal(value: Any, kind: str, nested: str | None) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "long":
        return f"{value}L"
    if kind == "float":
        return f"{value}f"
    if isinstance(value, list):
        inner = nested or "String"
        if kind == "ArrayList":  # BFCL strips the quotes of String elements here only
            items = [f'"{item}"' if inner == "String" else _java_literal(item, inner, None) for item in value]
            return f"new ArrayList<>(Arrays.asList({', '.join(items)}))"
        items = [_java_literal(item, inner, None) for item in value]
        return f"new {inner}[]{{{', '.join(items)}}}"
    return str(value)


def _js_literal(value: Any, kind: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "Bigint":
        return f"{value}n"
    if isinstance(value, list):
        return "[" + ", ".join(f'"{item}"' if isinstance(item, str) else _js_literal(item, "") for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_js_literal(item, '')}" for key, item in value.items()) + "}"
    return str(value)


def _source_literal(value: Any, language: str, schema: dict[str, Any]) -> Any:
    kind = str(schema.get("type", ""))
    if language == "Java":
        return _java_literal(value, kind, (schema.get("items") or {}).get("type"))
    if language == "JavaScript":
        return _js_literal(value, kind)
    return value


def ground_truth_calls(entry: EvalEntry) -> list[ToolCall]:
    """One satisfying call list from a single-turn possible answer: the first allowed value
    of each parameter (``""`` first means "may be omitted")."""
    language = entry.payload.get("language", "Python")
    docs = {doc["name"]: doc for doc in entry.payload.get("functions", [])}  # Java/JS types
    offered = {tool["name"]: tool for tool in entry.payload.get("tools", [])}
    calls: list[ToolCall] = []
    for item in entry.payload.get("ground_truth") or []:
        for name, parameters in item.items():
            properties = docs.get(name, {}).get("parameters", {}).get("properties", {})
            required = set(offered.get(name, {}).get("parameters", {}).get("required", []))
            arguments = {}
            for key, options in parameters.items():
                if key in required and not _present(options):  # "" first, but required
                    options = [option for option in options if option != ""] or options
                if _present(options):
                    arguments[key] = _source_literal(_first_option(options), language, properties.get(key, {}))
            calls.append(ToolCall(name=name, arguments=arguments))
    return calls


def ground_truth_output(entry: EvalEntry) -> EntryOutput:
    """The output a perfect model would store for ``entry`` (tests, re-scoring benchmark).

    Irrelevance entries get a text answer; live-relevance entries (no answer file) a call of
    the first offered tool; multi-turn entries one step per turn with its ground-truth calls.
    """
    if is_multi_turn(entry.category):
        turns = [
            TurnOutput(replies=[ModelReply(tool_calls=[ToolCall(**call) for call in calls])] if calls else [])
            for calls in entry.payload["ground_truth_calls"]
        ]
        return EntryOutput(entry_id=entry.id, category=entry.category, turns=turns)
    if "irrelevance" in entry.category:
        reply = ModelReply(text="None of the functions can be used for this request.")
    elif "relevance" in entry.category:
        first = entry.payload["tools"][0]["name"]
        reply = ModelReply(tool_calls=[ToolCall(name=first, arguments={})])
    else:
        reply = ModelReply(tool_calls=ground_truth_calls(entry))
    return EntryOutput(entry_id=entry.id, category=entry.category, turns=[TurnOutput(replies=[reply])])
