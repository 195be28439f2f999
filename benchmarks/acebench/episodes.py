"""Running the model under test on ACEBench items (README §5).

* normal / special: one request per record (:func:`run_prompt_record`);
* agent multi_turn: agent, simulated user and execution take turns (:func:`run_multi_turn`);
* agent multi_step: the agent works alone, every message goes to execution
  (:func:`run_multi_step`).

Agent messages are routed like upstream: one that contains ``[...]`` and parses as
Python-call syntax (:func:`looptool.codecs.parse_python`, never ``eval``) is executed on the
episode's :class:`~agents.backends.acebench.AceEnvironment`; in function-calling mode its
``tool_calls`` are executed and recorded in Python-call syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from looptool.agents.backends.acebench import AceEnvironment
from looptool.benchmarks.acebench.data import AgentRecord, PromptRecord
from looptool.benchmarks.acebench.decode import decode_strict
from looptool.benchmarks.acebench.prompts import (
    FINISH,
    NO_QUESTIONS,
    USER_OPENING,
    UpstreamPrompts,
    agent_system_prompt,
    agent_user_message,
    normal_messages,
    upstream_agent_system_prompt,
    upstream_agent_user_message,
    upstream_normal_messages,
    upstream_user_sim_prompt,
)
from looptool.benchmarks.acebench.tools import openai_tools
from looptool.benchmarks.base import ChatModel, ModelReply
from looptool.codecs import render_python
from looptool.schema import ToolCall

_BRACKETS = re.compile(r"\[.*\]", re.DOTALL)


async def run_prompt_record(
    model: ChatModel,
    prompts: UpstreamPrompts,
    language: str,
    record: PromptRecord,
    *,
    special: bool,
    function_calling: bool,
) -> ModelReply:
    """One request for a normal or special record: upstream's prompt in prompt modes."""
    if function_calling:
        messages = normal_messages(
            language, question=record.question, functions=record.function, time=record.time,
            profile=record.profile, special=special,
        )
        return await model.chat_raw(messages, openai_tools(record.function))
    messages = upstream_normal_messages(
        prompts, language, question=record.question, functions=record.function, time=record.time,
        profile=record.profile, special=special,
    )
    return await model.chat_raw(messages, None)


class SimulatedUser(Protocol):
    """The user side of an agent multi-turn episode."""

    async def open(self) -> str:
        """The user's first message."""
        ...

    async def respond(self, agent_message: str) -> str:
        """The user's answer to an agent message."""
        ...


class LLMUser:
    """The simulated user played by a langchain chat model (the ``user_sim`` role).

    From the user model's side the agent speaks as ``user`` and the simulated user answers as
    ``assistant``; the chat opens with the agent-side line "Is there anything you need help
    with today?" as upstream does.
    """

    def __init__(self, chat_model: Any, system_prompt: str, language: str, *, role: str = "user_sim") -> None:
        from looptool.agents.role_call import RoleBinding

        self.binding = RoleBinding(model=chat_model, role=role)
        self.messages: list[dict[str, str]] = [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": USER_OPENING.get(language, USER_OPENING["en"])},
        ]

    async def _next(self) -> str:
        from looptool.agents.role_call import call_text

        text = (await call_text(self.binding, "acebench_user", self.messages)).strip()
        self.messages.append({"role": "assistant", "content": text})
        return text

    async def open(self) -> str:
        return await self._next()

    async def respond(self, agent_message: str) -> str:
        self.messages.append({"role": "user", "content": agent_message})
        return await self._next()


@dataclass
class Episode:
    """What an agent episode produced; everything needed to score it later."""

    replies: list[ModelReply] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    process: list[str] = field(default_factory=list)
    state: list[dict[str, dict[str, Any]]] | None = None
    stop_reason: str = ""
    error: str | None = None

    def extra(self) -> dict[str, Any]:
        return {
            "history": self.history,
            "process": self.process,
            "state": self.state,
            "stop_reason": self.stop_reason,
        }


@dataclass
class _AgentStep:
    text: str
    calls: list[ToolCall] | None  # None: not an execution message


def _agent_step(reply: ModelReply, function_calling: bool) -> _AgentStep:
    if function_calling and reply.tool_calls:
        return _AgentStep(render_python(reply.tool_calls), list(reply.tool_calls))
    text = (reply.raw or reply.text).strip()
    if _BRACKETS.search(text):
        decoded = decode_strict(text)
        if decoded.ok and decoded.calls:
            return _AgentStep(text, decoded.calls)
    return _AgentStep(text, None)


async def _agent_reply(
    model: ChatModel,
    prompts: UpstreamPrompts,
    language: str,
    record: AgentRecord,
    history: list[str],
    *,
    multi_step: bool,
    function_calling: bool,
) -> ModelReply:
    if function_calling:
        system = agent_system_prompt(prompts, language, record.involved_classes, multi_step=multi_step)
        user = agent_user_message(language, history)
    else:
        system = upstream_agent_system_prompt(prompts, language, record.involved_classes, multi_step=multi_step)
        user = upstream_agent_user_message(prompts, language, record.function, history, multi_step=multi_step)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return await model.chat_raw(messages, openai_tools(record.function) if function_calling else None)


def user_sim_prompt(prompts: UpstreamPrompts, language: str, record: AgentRecord) -> str:
    """The simulated user's system prompt: upstream's, with the record's instruction."""
    return upstream_user_sim_prompt(prompts, language, record.involved_classes, record.question)


async def run_multi_turn(
    model: ChatModel,
    prompts: UpstreamPrompts,
    user: SimulatedUser,
    environment: AceEnvironment,
    language: str,
    record: AgentRecord,
    *,
    function_calling: bool,
    max_messages: int = 40,
) -> Episode:
    """Agent + simulated user + execution until "finish conversation" or ``max_messages``."""
    episode = Episode()
    first = await user.open()
    episode.history.append(f"user: {first}")
    clean_execution = False
    while len(episode.history) < max_messages:
        reply = await _agent_reply(model, prompts, language, record, episode.history, multi_step=False, function_calling=function_calling)
        episode.replies.append(reply)
        if reply.error:
            episode.error, episode.stop_reason = reply.error, "model_error"
            break
        step = _agent_step(reply, function_calling)
        episode.history.append(f"agent: {step.text}")
        if step.calls is not None:
            episode.process.append(step.text)
            batch = environment.execute_all(step.calls)
            reply.tool_results = [batch.to_text()]
            clean_execution = clean_execution or not batch.raised
            episode.history.append(f"execution: {batch.to_text()}")
            continue
        if FINISH in step.text:
            episode.stop_reason = "agent_finished"
            break
        answer = await user.respond(step.text)
        episode.history.append(f"user: {answer}")
        if FINISH in answer:
            episode.stop_reason = "user_finished"
            break
    else:
        episode.stop_reason = "max_messages"
    episode.state = environment.snapshot() if clean_execution else None
    return episode


async def run_multi_step(
    model: ChatModel,
    prompts: UpstreamPrompts,
    environment: AceEnvironment,
    language: str,
    record: AgentRecord,
    *,
    function_calling: bool,
    max_messages: int = 40,
) -> Episode:
    """The agent alone: every message is executed until it says "finish conversation"."""
    episode = Episode(history=[f"user: {record.question}"])
    executed = False
    while len(episode.history) < max_messages:
        reply = await _agent_reply(model, prompts, language, record, episode.history, multi_step=True, function_calling=function_calling)
        episode.replies.append(reply)
        if reply.error:
            episode.error, episode.stop_reason = reply.error, "model_error"
            break
        step = _agent_step(reply, function_calling)
        if FINISH in step.text:  # upstream: such a message is never executed
            episode.stop_reason = "agent_finished"
            break
        episode.history.append(f"agent: {step.text}")
        if step.calls is None:
            result = NO_QUESTIONS.get(language, NO_QUESTIONS["en"])
        else:
            episode.process.append(step.text)
            batch = environment.execute_all(step.calls)
            executed = True
            result = batch.to_text()
            reply.tool_results = [result]
        episode.history.append(f"execution result: {result}")
    else:
        episode.stop_reason = "max_messages"
    episode.state = environment.snapshot() if executed else None
    return episode
