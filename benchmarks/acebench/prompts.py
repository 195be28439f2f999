"""The prompts ACEBench's reference harness uses (README §5), in English and Chinese.

The upstream templates are not part of the data copy; these follow their described content:
the call format ``[ApiName(key1='value1', ...)]``, the time or profile block, the role list,
the API list as Python ``str()`` of the record's ``function`` list, the special-category
sentences, and the agent rules and domain policies.
"""

from __future__ import annotations

from string import Template
from typing import Any

CALL_RULES_EN = """You are an AI assistant that calls APIs to fulfil the user's request.
Based on the conversation history, output the API call(s) of the next step in the format
[ApiName(key1='value1', key2='value2', ...)]
Several calls go comma-separated inside one pair of brackets, e.g. [ApiA(a=1), ApiB(b='x')].
Do not output anything else. Omit parameters the user did not mention. Copy values from the
user's text unless a format is specified. A call without parameters is written [ApiName()]."""

CALL_RULES_ZH = """你是一个调用API完成用户需求的AI助手。
根据对话历史，以如下格式输出下一步要调用的API：
[ApiName(key1='value1', key2='value2', ...)]
多个调用用逗号分隔放在同一对方括号中，例如 [ApiA(a=1), ApiB(b='x')]。
不要输出任何其他内容。用户没有提到的参数不要填写。除非指定了格式，参数值照抄用户的原话。
没有参数的调用写作 [ApiName()]。"""

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
    call_format: bool = True,
) -> list[dict[str, str]]:
    """System + user messages for one normal/special record.

    ``call_format=False`` (function-calling mode) drops the text-call rules and the API list:
    the tools travel as OpenAI ``tools`` instead.
    """
    zh = language == "zh"
    rules = CALL_RULES_ZH if zh else CALL_RULES_EN
    if special:
        rules += "\n\n" + (SPECIAL_RULES_ZH if zh else SPECIAL_RULES_EN)
    if not call_format:
        rules = (
            "Call the API(s) of the next step as tools."
            if not zh
            else "以工具调用的方式调用下一步的API。"
        ) + ("\n\n" + (SPECIAL_RULES_ZH if zh else SPECIAL_RULES_EN) if special else "")
    context = f"{PROFILE_HEADER[language]}\n{profile}" if profile is not None else time
    system = SYSTEM_TEMPLATE.substitute(
        rules=rules,
        context=context,
        roles=ROLES_ZH if zh else ROLES_EN,
        api_header=API_HEADER[language] if call_format else "",
        functions=python_repr_functions(functions) if call_format else "",
    ).strip()
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": HISTORY_HEADER[language] + question},
    ]


AGENT_RULES_EN = """You are an AI assistant with access to a set of APIs. To call APIs, output only
[ApiName(key1='value1', key2='value2', ...)] with no other text. If information is missing,
ask the user instead of calling an API."""
AGENT_RULES_ZH = """你是一个可以调用API的AI助手。调用API时只输出
[ApiName(key1='value1', key2='value2', ...)]，不要输出其他文字。如果缺少信息，请向用户询问，而不是调用API。"""

MULTI_STEP_RULES_EN = """You are an AI assistant with access to a set of APIs. Solve the task step by
step, generally one API call at a time, in the format [ApiName(key1='value1', ...)] with no
other text. There is no user to ask: use the information you have. When the task is done,
output "finish conversation"."""
MULTI_STEP_RULES_ZH = """你是一个可以调用API的AI助手。请一步一步完成任务，一般每次调用一个API，
格式为 [ApiName(key1='value1', ...)]，不要输出其他文字。没有用户可以询问，请利用已知信息。
任务完成后输出 "finish conversation"。"""

TRAVEL_POLICY_EN = """Travel policy. The current time is 2024-07-15 08:00. Before booking, modifying or
cancelling, confirm the details with the user. Look up the user's details before booking.
Free checked bags: regular members 1 (economy) / 2 (business), silver 2 / 3, gold 3 / 3;
every extra bag costs 50. Cancellation: full refund if the airline cancelled the flight or
more than 24 hours before departure, otherwise a 10% fee; refunds go to cash."""
TRAVEL_POLICY_ZH = """旅行政策。当前时间是2024-07-15 08:00。预订、改签或取消前先与用户确认细节，预订前先查询用户信息。
免费托运行李：普通会员 经济舱1件/商务舱2件，银卡 2/3，金卡 3/3；每件超额行李50元。
取消：航空公司取消航班或起飞前24小时以上全额退款，否则收取10%手续费；退款退到现金。"""

PHONE_POLICY_EN = """Phone policy. The current time is 2024-06-11 16:00. Log in to the device before viewing
or deleting messages or adding reminders; turn on Wi-Fi before sending messages or using the
food platform. When the message inbox is full, ask the user which message to delete."""
PHONE_POLICY_ZH = """手机使用规范。当前时间是2024-06-11 16:00。查看或删除短信、添加提醒前先登录设备；
发送短信或使用外卖平台前先打开wifi。短信容量已满时，询问用户删除哪条短信。"""


AGENT_RULES_FC_EN = """You are an AI assistant with access to a set of APIs, offered as tools. Call them
as tool calls. If information is missing, ask the user instead of calling an API."""
AGENT_RULES_FC_ZH = """你是一个可以调用API的AI助手，API以工具的形式提供，请用工具调用来调用它们。如果缺少信息，请向用户询问，而不是调用API。"""
MULTI_STEP_RULES_FC_EN = """You are an AI assistant with access to a set of APIs, offered as tools. Solve the
task step by step, generally one tool call at a time. There is no user to ask: use the
information you have. When the task is done, answer "finish conversation"."""
MULTI_STEP_RULES_FC_ZH = """你是一个可以调用API的AI助手，API以工具的形式提供。请一步一步完成任务，一般每次调用一个工具。
没有用户可以询问，请利用已知信息。任务完成后回答 "finish conversation"。"""


def agent_system_prompt(
    language: str, involved_classes: list[str], *, multi_step: bool, function_calling: bool = False
) -> str:
    """The agent's rules (plus the travel/phone policy in multi_turn). In function-calling
    mode the text-call format is replaced by a request to use tool calls."""
    zh = language == "zh"
    if multi_step:
        if function_calling:
            rules = MULTI_STEP_RULES_FC_ZH if zh else MULTI_STEP_RULES_FC_EN
        else:
            rules = MULTI_STEP_RULES_ZH if zh else MULTI_STEP_RULES_EN
    elif function_calling:
        rules = AGENT_RULES_FC_ZH if zh else AGENT_RULES_FC_EN
    else:
        rules = AGENT_RULES_ZH if zh else AGENT_RULES_EN
    if multi_step:
        return rules
    parts = [rules]
    if "Travel" in involved_classes:
        parts.append(TRAVEL_POLICY_ZH if zh else TRAVEL_POLICY_EN)
    if "BaseApi" in involved_classes:
        parts.append(PHONE_POLICY_ZH if zh else PHONE_POLICY_EN)
    return "\n\n".join(parts)


def agent_user_message(language: str, functions: list[dict[str, Any]] | None, history: list[str]) -> str:
    """The agent's user message: the API list (prompt modes) and the transcript so far."""
    head = f"{API_HEADER[language]}\n {python_repr_functions(functions)}\n\n" if functions is not None else ""
    return head + HISTORY_HEADER[language] + "\n".join(history)


USER_SIM_EN = """You are a user talking to an AI assistant. Follow this instruction:
Instruction: $instruction

Rules:
- Write one line per message, as the user; never play the assistant.
- Reveal information step by step, only when the assistant asks for it.
- Do not invent facts that the instruction does not give.
- When your goal is reached, reply with "finish conversation"."""
USER_SIM_ZH = """你是一个正在与AI助手对话的用户。请按照以下指示行动：
指示：$instruction

规则：
- 每条消息只写一行，以用户身份发言；不要扮演助手。
- 只有在助手询问时才逐步提供信息。
- 不要编造指示中没有的信息。
- 目标达成后，回复 "finish conversation"。"""

USER_OPENING = {"en": "Is there anything you need help with today?", "zh": "今天有什么需要帮助的吗？"}
FINISH = "finish conversation"
NO_QUESTIONS = {
    "en": "Please do not ask me any questions, use the known conditions to solve the problem",
    "zh": "请不要向我提问，利用已知条件解决问题",
}


def user_sim_system_prompt(language: str, instruction: str) -> str:
    template = Template(USER_SIM_ZH if language == "zh" else USER_SIM_EN)
    return template.substitute(instruction=instruction)
