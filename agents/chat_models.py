"""The chat-model factory: a langchain-openai ``ChatOpenAI`` per agent role.

::

    from looptool.agents.chat_models import make_chat_model
    from looptool.usage import UsageRecorder

    usage = UsageRecorder()
    judge = make_chat_model(config, "judge", usage=usage)              # from a whole recipe
    judge = make_chat_model(config.roles.judge, "judge", usage=usage)  # from one RoleSettings
    reply = await judge.ainvoke([HumanMessage("...")])                 # AIMessage
    verdict = judge.with_structured_output(Verdict, method="json_schema").invoke(messages)
    usage.summary()                                                    # per-role tokens/latency

The result is a real ``ChatOpenAI`` (``bind_tools``, ``with_structured_output``, ``ainvoke``,
``abatch`` all work) whose HTTP clients use the shared
:class:`~looptool.transport.BalancedTransport` (load balancing over the role's base URLs,
retries with backoff, a usage record per attempt). The openai SDK's own retries are off so
retries are not multiplied; once the transport gives up, the usual
``openai.APIConnectionError`` / ``APITimeoutError`` / ``APIStatusError`` reaches the caller.
Raw calls (``prompt_logprobs``, ``/tokenize``) are :mod:`looptool.completions`.
"""

from __future__ import annotations

from typing import Any

import httpx
from langchain_openai import ChatOpenAI

from looptool.config import LoopToolConfig, RoleSettings
from looptool.roles import bind_role
from looptool.transport import BalancedTransport
from looptool.usage import UsageRecorder


def make_chat_model(
    role: RoleSettings | LoopToolConfig,
    role_name: str | None = None,
    *,
    usage: UsageRecorder | None = None,
    **overrides: Any,
) -> ChatOpenAI:
    """A ``ChatOpenAI`` for one role, load-balanced over its base URLs, retrying, recording.

    ``role`` is a :class:`RoleSettings` (then ``role_name`` only labels the usage records) or a
    whole :class:`LoopToolConfig` plus the role's name. ``overrides`` go to ``ChatOpenAI``
    (e.g. ``temperature=0``, ``stop=[...]``, ``extra_body={...}``).
    """
    bound = bind_role(role, role_name)
    settings = bound.settings
    transport = BalancedTransport.for_role(settings, role_name=bound.name, usage=usage)
    sampling = settings.sampling
    kwargs: dict[str, Any] = {
        "model": settings.model,
        "base_url": transport.nominal_base_url,
        "api_key": settings.api_key,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
        "seed": sampling.seed,
        "timeout": settings.timeout_s,
        "max_retries": 0,
        "http_client": httpx.Client(transport=transport, timeout=settings.timeout_s),
        "http_async_client": httpx.AsyncClient(transport=transport, timeout=settings.timeout_s),
    }
    kwargs.update(overrides)
    return ChatOpenAI(**kwargs)
