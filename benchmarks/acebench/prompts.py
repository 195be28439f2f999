"""The prompts of ACEBench's reference harness, in English and Chinese.

Prompt modes use **upstream's prompt constants verbatim** (:class:`UpstreamPrompts`, read from
``<acebench>/prompts/upstream_prompts.json``: every string constant of upstream's inference
files at the data's commit, byte for byte) and assemble them as upstream does (that folder's
README): the normal / preference / special system prompt with ``{time}`` or ``{profile}`` and
``{function}`` = Python ``str()`` of the record's ``function`` list, the user prompt with the
dialogue; the agent system prompt followed by the travel or phone policy; the simulated
user's prompt with the record's instruction. Function-calling mode has no upstream prompt:
its rules below (``*_FC_*``, ``call_format=False``) are ours.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

UPSTREAM_COMMIT = "56dd66cf6439b0d9655ee1b353e4cd745c6f664e"
"""The upstream commit of the data copy; the prompt file must come from the same commit."""

PROMPT_FILES = {
    "prompt": "model_inference/prompt_{language}.py",
    "multi_turn_agent": "model_inference/multi_turn/common_agent.py",
    "multi_turn_user": "model_inference/multi_turn/APIModel_user.py",
    "multi_step_agent": "model_inference/multi_step/common_agent_step.py",
}


class UpstreamPromptsError(FileNotFoundError):
    """The upstream prompt file is missing, from another commit, or lacks a constant."""


@dataclass(frozen=True)
class UpstreamPrompts:
    """Upstream's prompt constants (``upstream_prompts.json``), looked up by file and name."""

    path: Path
    files: dict[str, dict[str, str]]

    def get(self, kind: str, name: str, language: str) -> str:
        file = PROMPT_FILES[kind].format(language=language)
        constant = f"{name}_{language.upper()}"
        try:
            return self.files[file][constant]
        except KeyError:
            raise UpstreamPromptsError(f"{self.path} has no constant {constant} of {file}") from None


@functools.lru_cache(maxsize=8)
def load_upstream_prompts(root: Path) -> UpstreamPrompts:
    """Read ``<root>/prompts/upstream_prompts.json`` (checked to be from :data:`UPSTREAM_COMMIT`)."""
    path = root / "prompts" / "upstream_prompts.json"
    if not path.is_file():
        raise UpstreamPromptsError(
            f"ACEBench upstream prompts not found: {path} does not exist (the ACEBench folder needs "
            "prompts/upstream_prompts.json next to data/)"
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("commit") != UPSTREAM_COMMIT:
        raise UpstreamPromptsError(
            f"{path} is from upstream commit {data.get('commit')!r}, the data from {UPSTREAM_COMMIT}"
        )
    files = {name: dict(entry["constants"]) for name, entry in data["files"].items()}
    return UpstreamPrompts(path=path, files=files)


def upstream_normal_messages(
    prompts: UpstreamPrompts,
    language: str,
    *,
    question: str,
    functions: list[dict[str, Any]],
    time: str = "",
    profile: str | None = None,
    special: bool = False,
) -> list[dict[str, str]]:
    """Upstream's system + user messages for one normal / preference / special record."""
    function = python_repr_functions(functions)
    if profile is not None:
        system = prompts.get("prompt", "SYSTEM_PROMPT_FOR_PREFERENCE_DATA", language).format(
            profile=profile, function=function
        )
    else:
        name = "SYSTEM_PROMPT_FOR_SPECIAL_DATA" if special else "SYSTEM_PROMPT_FOR_NORMAL_DATA"
        system = prompts.get("prompt", name, language).format(time=time, function=function)
    user = prompts.get("prompt", "USER_PROMPT", language).format(question=question)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def upstream_agent_system_prompt(
    prompts: UpstreamPrompts, language: str, involved_classes: list[str], *, multi_step: bool
) -> str:
    """Upstream's agent system prompt: multi_step's own text; multi_turn's text followed
    directly by the travel or the phone (base) policy, chosen by the involved classes."""
    if multi_step:
        return prompts.get("multi_step_agent", "MULTI_TURN_AGENT_PROMPT_SYSTEM", language)
    system = prompts.get("multi_turn_agent", "MULTI_TURN_AGENT_PROMPT_SYSTEM", language)
    policy = "TRAVEL_PROMPT" if "Travel" in involved_classes else "BASE_PROMPT"
    return system + prompts.get("prompt", policy, language)


def upstream_agent_user_message(
    prompts: UpstreamPrompts, language: str, functions: list[dict[str, Any]], history: list[str], *, multi_step: bool
) -> str:
    """Upstream's agent user message with the API list (``str()``) and the transcript."""
    kind = "multi_step_agent" if multi_step else "multi_turn_agent"
    template = prompts.get(kind, "MULTI_TURN_AGENT_PROMPT_USER", language)
    return template.format(functions=functions, history="\n".join(history))


def upstream_user_sim_prompt(prompts: UpstreamPrompts, language: str, involved_classes: list[str], instruction: str) -> str:
    """Upstream's simulated-user system prompt (travel or phone) with the record's instruction."""
    name = "SYSTEM_PROMPT_TRAVEL" if "Travel" in involved_classes else "SYSTEM_PROMPT_BASE"
    return prompts.get("multi_turn_user", name, language).format(instruction=instruction)


SPECIAL_RULES_EN = """If the request is clear and the APIs can solve it, output the call(s) as above.
Otherwise output exactly one of these sentences (check 1 before 2, and 2 before 3):
1. ["There is incorrect value (value) for the parameters (key) in the conversation history."]
2. ["Missing necessary parameters (key1, key2, ...) for the api (ApiName)"]
3. ["Due to the limitations of the function, I cannot solve this problem."]"""

SPECIAL_RULES_ZH = """如果请求清晰且API能够解决，按上面的格式输出调用。
否则只输出下面三句英文之一（先检查1，再检查2，最后3）：
1. ["There is incorrect value (value) for the parameters (key) in the conversation history."]
2. ["Missing necessary parameters (key1, key2, ...) for the api (ApiName)"]
3. ["Due to the limitations of the function, I cannot solve this problem."]"""

ROLES_EN = """Roles in the conversation: user (the person asking), assistant (you), tool (API results)."""
ROLES_ZH = """对话中的角色：user（提问的用户）、assistant（你）、tool（API返回的结果）。"""

SYSTEM_TEMPLATE = Template("$rules\n\n$context\n\n$roles\n\n$api_header\n$functions")

HISTORY_HEADER = {"en": "Conversation history 1..t:\n", "zh": "对话历史1..t:\n"}
API_HEADER = {"en": "Below is the list of APIs you can use:", "zh": "以下是你可以调用的API列表："}
PROFILE_HEADER = {"en": "Character Profile:", "zh": "用户画像："}


def python_repr_functions(functions: list[dict[str, Any]]) -> str:
    """The API list exactly as upstream shows it: Python ``str()`` of the list."""
    return str(functions)


def normal_messages(
    language: str,
    *,
    question: str,
    functions: list[dict[str, Any]],
    time: str = "",
    profile: str | None = None,
    special: bool = False,
) -> list[dict[str, str]]:
    """Function-calling mode's system + user messages for one normal/special record (ours:
    upstream has no function-calling prompt): the special-case sentences, the time or
    profile and the role list; the tools travel as OpenAI ``tools``."""
    zh = language == "zh"
    rules = "以工具调用的方式调用下一步的API。" if zh else "Call the API(s) of the next step as tools."
    if special:
        rules += "\n\n" + (SPECIAL_RULES_ZH if zh else SPECIAL_RULES_EN)
    context = f"{PROFILE_HEADER[language]}\n{profile}" if profile is not None else time
    system = SYSTEM_TEMPLATE.substitute(
        rules=rules, context=context, roles=ROLES_ZH if zh else ROLES_EN, api_header="", functions=""
    ).strip()
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": HISTORY_HEADER[language] + question},
    ]


AGENT_RULES_FC_EN = """You are an AI assistant with access to a set of APIs, offered as tools. Call them
as tool calls. If information is missing, ask the user instead of calling an API."""
AGENT_RULES_FC_ZH = """你是一个可以调用API的AI助手，API以工具的形式提供，请用工具调用来调用它们。如果缺少信息，请向用户询问，而不是调用API。"""
MULTI_STEP_RULES_FC_EN = """You are an AI assistant with access to a set of APIs, offered as tools. Solve the
task step by step, generally one tool call at a time. There is no user to ask: use the
information you have. When the task is done, answer "finish conversation"."""
MULTI_STEP_RULES_FC_ZH = """你是一个可以调用API的AI助手，API以工具的形式提供。请一步一步完成任务，一般每次调用一个工具。
没有用户可以询问，请利用已知信息。任务完成后回答 "finish conversation"。"""


def agent_system_prompt(
    prompts: UpstreamPrompts, language: str, involved_classes: list[str], *, multi_step: bool
) -> str:
    """Function-calling mode's agent system prompt: our tool-call rules, then (multi_turn)
    upstream's travel or phone policy verbatim."""
    zh = language == "zh"
    if multi_step:
        return MULTI_STEP_RULES_FC_ZH if zh else MULTI_STEP_RULES_FC_EN
    policy = prompts.get("prompt", "TRAVEL_PROMPT" if "Travel" in involved_classes else "BASE_PROMPT", language)
    return (AGENT_RULES_FC_ZH if zh else AGENT_RULES_FC_EN) + "\n\n" + policy


def agent_user_message(language: str, history: list[str]) -> str:
    """Function-calling mode's agent user message: the transcript so far."""
    return HISTORY_HEADER[language] + "\n".join(history)


USER_OPENING = {"en": "Is there anything you need help with today?", "zh": "今天有什么需要帮助的吗？"}
FINISH = "finish conversation"
NO_QUESTIONS = {
    "en": "Please do not ask me any questions, use the known conditions to solve the problem",
    "zh": "请不要向我提问，利用已知条件解决问题",
}
