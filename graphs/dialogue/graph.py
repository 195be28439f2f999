"""The dialogue simulation graph: Planner -> User <-> Assistant <-> Tool.

Routing (every node returns a ``Command`` whose ``Literal`` lists where it may go)::

    planner ──▶ user ──▶ assistant ──▶ tool ──▶ assistant ...
                 ▲            │  text                 │ repeated failure
                 └────────────┘                       ▼
    user: task done / planned turns used ─▶ END     END
    assistant: turn cap / unparseable reply ─▶ END

Stop reasons (``stop_reason``): ``plan_complete`` (the user ends, or the planned user turns
are used and the assistant answered in text), ``turn_cap`` (``max_assistant_steps``),
``tool_failures`` (``max_tool_failures`` consecutive tool steps whose calls all failed),
``malformed_output`` (the assistant's ``<tool_call>`` blocks never parsed), and
``planner_failed`` / ``user_failed`` (a role's structured reply never parsed).
"""

from __future__ import annotations

import time
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from looptool.agents.assistant import assistant_step
from looptool.agents.planner import plan_task, to_plan
from looptool.agents.role_call import RoleOutputError
from looptool.agents.tool_agent import make_toolbox, run_tool_calls
from looptool.agents.user_sim import user_turn
from looptool.graphs.dialogue.context import DialogueContext
from looptool.graphs.dialogue.knobs import sample_setup
from looptool.graphs.dialogue.state import DialogueInputState, DialogueOutputState, DialogueState
from looptool.schema import Message, Role
from looptool.traces import EventKind

PLANNER, USER, ASSISTANT, TOOL = "planner", "user", "assistant", "tool"


def _trace_node(
    runtime: Runtime[DialogueContext],
    state: DialogueState,
    node: str,
    started: float,
    command: Command[Any],
    note: str = "",
) -> Command[Any]:
    traces = runtime.context.traces
    if traces is not None:
        update = command.update if isinstance(command.update, dict) else {}
        traces.record(
            state["dialogue_id"],
            EventKind.NODE,
            node=node,
            content=note,
            data={"goto": command.goto, "stop_reason": update.get("stop_reason")},
            started_at=started,
        )
    return command


def _record_message(runtime: Runtime[DialogueContext], state: DialogueState, node: str, message: Message) -> None:
    traces = runtime.context.traces
    if traces is not None:
        traces.record(state["dialogue_id"], EventKind.MESSAGE, node=node, role=message.role.value,
                      content=message.content,
                      data={"tool_calls": [call.model_dump() for call in message.tool_calls]}
                      if message.tool_calls else {"name": message.name} if message.name else {})


def _stop(reason: str, detail: str = "") -> Command[Any]:
    return Command(goto=END, update={"stop_reason": reason, "stop_detail": detail})


async def planner(
    state: DialogueState, runtime: Runtime[DialogueContext]
) -> Command[Literal["user", "__end__"]]:
    """Sample the tool subset and knobs, ask the planner model for the task, build tools."""
    started = time.time()
    context = runtime.context
    setup = sample_setup(context.settings, context.library, seed=state["seed"], index=state["index"])
    knobs = setup.knobs
    base: dict[str, Any] = {
        "knobs": knobs,
        "planned_tools": setup.planned_tools,
        "offered_tools": setup.offered_tools,
        "user_turns": 0,
        "assistant_steps": 0,
        "tool_failures": 0,
    }
    binding = context.binding(context.models.planner, context.settings.roles.planner, state["dialogue_id"])
    try:
        draft = await plan_task(binding, setup.planned_tools, turns=knobs.turns,
                                parallel=knobs.parallel, prompt=context.prompts.planner)
    except RoleOutputError as error:
        command: Command[Any] = Command(goto=END, update={**base, "stop_reason": "planner_failed",
                                                          "stop_detail": str(error)})
        return _trace_node(runtime, state, PLANNER, started, command, str(error))
    context.toolbox = make_toolbox(setup.offered_tools, context.simulator_factory,
                                   executable=context.executable_backends)
    update = {**base, "plan": to_plan(draft, setup.planned_tools, knobs.turns),
              "user_details": draft.user_details}
    note = f"task: {draft.task} | offered: {[tool.name for tool in setup.offered_tools]} | {knobs.model_dump()}"
    return _trace_node(runtime, state, PLANNER, started, Command(goto=USER, update=update), note)


def _turns_used(user_turns: int, planned: int, messages: list[Message]) -> bool:
    """The planned user turns are used; one extra turn answers a closing question."""
    if user_turns < planned or not messages:
        return False
    last = messages[-1]
    asked = last.role == Role.ASSISTANT and last.content.rstrip().endswith("?")
    return not (asked and user_turns < planned + 1)


async def user(
    state: DialogueState, runtime: Runtime[DialogueContext]
) -> Command[Literal["assistant", "__end__"]]:
    """Open the conversation, answer the assistant, or end when the task is done."""
    started = time.time()
    context = runtime.context
    messages = state.get("messages", [])
    plan = state["plan"]
    knobs = state["knobs"]
    assert plan is not None and knobs is not None
    if _turns_used(state["user_turns"], plan.turns, messages):
        command: Command[Any] = _stop("plan_complete", "planned user turns used")
        return _trace_node(runtime, state, USER, started, command)
    binding = context.binding(context.models.user, context.settings.roles.user, state["dialogue_id"])
    try:
        turn = await user_turn(binding, task=plan.task, details=state.get("user_details", []),
                               persona=knobs.persona, messages=messages,
                               withhold_detail=knobs.withhold_detail, prompt=context.prompts.user_sim)
    except RoleOutputError as error:
        return _trace_node(runtime, state, USER, started, _stop("user_failed", str(error)), str(error))
    if turn.done:
        command = _stop("plan_complete", "the user ended the dialogue")
        return _trace_node(runtime, state, USER, started, command, turn.message)
    message = Message(role=Role.USER, content=turn.message.strip())
    _record_message(runtime, state, USER, message)
    command = Command(goto=ASSISTANT, update={"messages": [message], "user_turns": state["user_turns"] + 1})
    return _trace_node(runtime, state, USER, started, command)


async def assistant(
    state: DialogueState, runtime: Runtime[DialogueContext]
) -> Command[Literal["tool", "user", "__end__"]]:
    """Answer with tool calls (-> Tool) or text (-> User); stop at the turn cap."""
    started = time.time()
    context = runtime.context
    knobs = state["knobs"]
    assert knobs is not None
    if state["assistant_steps"] >= context.settings.max_assistant_steps:
        command: Command[Any] = _stop("turn_cap", f"{state['assistant_steps']} assistant steps")
        return _trace_node(runtime, state, ASSISTANT, started, command)
    binding = context.binding(context.models.assistant, context.settings.roles.assistant, state["dialogue_id"])
    step = await assistant_step(binding, state["offered_tools"], state.get("messages", []),
                                step=state["assistant_steps"], parallel=knobs.parallel,
                                retries=context.settings.assistant_retries,
                                prompt=context.prompts.assistant,
                                demo=context.settings.assistant_demo)
    _record_message(runtime, state, ASSISTANT, step.message)
    update: dict[str, Any] = {"messages": [step.message], "assistant_steps": state["assistant_steps"] + 1}
    if step.parse_error is not None:
        update.update(parse_errors=[step.parse_error], stop_reason="malformed_output",
                      stop_detail=step.parse_error)
        return _trace_node(runtime, state, ASSISTANT, started, Command(goto=END, update=update),
                           step.parse_error)
    goto = TOOL if step.calls else USER
    return _trace_node(runtime, state, ASSISTANT, started, Command(goto=goto, update=update))


async def tool(
    state: DialogueState, runtime: Runtime[DialogueContext]
) -> Command[Literal["assistant", "__end__"]]:
    """Run the last assistant message's calls; stop after repeated failures."""
    started = time.time()
    context = runtime.context
    last = state["messages"][-1]
    toolbox = context.toolbox
    assert toolbox is not None, "the planner node builds the toolbox"
    outcome = await run_tool_calls(toolbox, last.tool_calls, traces=context.traces,
                                   trace_id=state["dialogue_id"])
    failures = state["tool_failures"] + 1 if outcome.all_failed else 0
    update: dict[str, Any] = {"messages": outcome.messages, "tool_failures": failures}
    if failures >= context.settings.max_tool_failures:
        errors = "; ".join(result.error or "" for result in outcome.results)
        update.update(stop_reason="tool_failures", stop_detail=f"{failures} failing tool steps: {errors}")
        return _trace_node(runtime, state, TOOL, started, Command(goto=END, update=update), errors)
    return _trace_node(runtime, state, TOOL, started, Command(goto=ASSISTANT, update=update))


def build_dialogue_graph() -> StateGraph[DialogueState, DialogueContext, DialogueInputState, DialogueOutputState]:
    """The uncompiled graph (add checkpointers or interrupts before compiling)."""
    builder = StateGraph(
        DialogueState,
        context_schema=DialogueContext,
        input_schema=DialogueInputState,
        output_schema=DialogueOutputState,
    )
    builder.add_node(PLANNER, planner)
    builder.add_node(USER, user)
    builder.add_node(ASSISTANT, assistant)
    builder.add_node(TOOL, tool)
    builder.add_edge(START, PLANNER)
    return builder


def compile_dialogue_graph() -> CompiledStateGraph[DialogueState, DialogueContext, DialogueInputState, DialogueOutputState]:
    return build_dialogue_graph().compile(name="dialogue_simulation")


def recursion_limit(max_assistant_steps: int, max_turns: int) -> int:
    """Enough LangGraph steps for the worst case of the stop rules (with margin)."""
    return 8 + 2 * max_assistant_steps + 2 * max_turns + max_assistant_steps


#: The compiled graph (``langgraph.json`` points here; LangGraph Studio opens it).
graph = compile_dialogue_graph()
