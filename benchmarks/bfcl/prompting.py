"""How BFCL's prompt handlers (``OSSHandler`` + ``QwenHandler`` of ``bfcl-eval==2025.8.6.2``)
write the conversation for ``prompt_python``, as chat messages.

* the system prompt is BFCL's ``DEFAULT_SYSTEM_PROMPT`` with ``{functions}`` replaced by the
  Python ``str()`` of the function docs (Gorilla docs with BFCL's language hints, not
  converted to JSON Schema), as ``system_prompt_pre_processing_chat_model`` does; an entry's
  own system message follows it after a blank line;
* the model's earlier replies go back as their text (think block removed);
* the results of one step go back as one user turn of ``<tool_response>`` blocks, the text
  Qwen's chat template writes for consecutive ``tool`` messages;
* a miss-function turn is BFCL's ``DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_PROMPTING``
  with the held-out docs.
"""

from __future__ import annotations

from typing import Any

DEFAULT_SYSTEM_PROMPT_WITHOUT_FUNC_DOC = """You are an expert in composing functions. You are given a question and a set of possible functions. Based on the question, you will need to make one or more function/tool calls to achieve the purpose.
If none of the functions can be used, point it out. If the given question lacks the parameters required by the function, also point it out.
You should only return the function calls in your response.

If you decide to invoke any of the function(s), you MUST put it in the format of [func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]
You SHOULD NOT include any other text in the response.

At each turn, you should try your best to complete the tasks requested by the user within the current turn. Continue to output functions to call until you have fulfilled the user's request to the best of your ability. Once you have no more functions to call, the system will consider the current turn complete and proceed to the next turn or task.
"""

DEFAULT_SYSTEM_PROMPT = (
    DEFAULT_SYSTEM_PROMPT_WITHOUT_FUNC_DOC
    + """
Here is a list of functions in JSON format that you can invoke.\n{functions}\n
"""
)
"""BFCL's ``default_prompts.DEFAULT_SYSTEM_PROMPT``, byte for byte."""

ADDITIONAL_FUNCTION_PROMPT = "I have updated some more functions you can choose from. What about now?"
"""BFCL's ``DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC``."""


def system_prompt(docs: list[dict[str, Any]]) -> str:
    """BFCL's system prompt for ``docs`` (formatted with ``str()``, as BFCL does)."""
    return DEFAULT_SYSTEM_PROMPT.format(functions=docs)


def first_turn(question: list[dict[str, Any]], docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first turn's messages with BFCL's system prompt in front (an entry's own system
    message is appended to it after a blank line)."""
    messages = [{"role": str(item["role"]), "content": str(item.get("content") or "")} for item in question]
    prompt = system_prompt(docs)
    if messages and messages[0]["role"] == "system":
        messages[0] = {"role": "system", "content": prompt + "\n\n" + messages[0]["content"]}
    else:
        messages.insert(0, {"role": "system", "content": prompt})
    return messages


def tool_results(results: list[str]) -> dict[str, Any]:
    """One step's execution results as the user turn Qwen's template writes for them."""
    return {"role": "user", "content": "\n".join(f"<tool_response>\n{result}\n</tool_response>" for result in results)}


def additional_functions(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """BFCL's miss-function user turn for prompting models."""
    return {"role": "user", "content": f"{docs}\n{ADDITIONAL_FUNCTION_PROMPT}"}
