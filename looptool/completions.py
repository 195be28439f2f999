"""Raw OpenAI-compatible calls a chat model does not cover: model list, health, vLLM's
``/tokenize``, plain completions and ``prompt_logprobs`` (perplexity of a continuation).

::

    async with OpenAICompatClient.for_role(config, "policy", usage=usage) as client:
        await client.models()                                          # served model names
        score = await client.continuation_logprobs(context_ids, label_text)
        score.perplexity, score.token_logprobs                         # PPL of the label only

Every request goes through the shared :class:`~looptool.transport.BalancedTransport`
(load balancing, retries, usage records).
"""

from __future__ import annotations

import math
from typing import Any

import httpx
from pydantic import BaseModel, Field

from looptool.config import LoopToolConfig, RoleSettings
from looptool.roles import bind_role
from looptool.transport import BalancedTransport, server_root
from looptool.usage import UsageRecorder


class TokenLogprob(BaseModel):
    token_id: int
    token: str
    logprob: float


class ContinuationScore(BaseModel):
    """Log-probabilities of ``continuation`` tokens given ``context`` (teacher forcing)."""

    token_logprobs: list[TokenLogprob]

    @property
    def sum_logprob(self) -> float:
        return sum(item.logprob for item in self.token_logprobs)

    @property
    def mean_logprob(self) -> float:
        return self.sum_logprob / len(self.token_logprobs) if self.token_logprobs else 0.0

    @property
    def perplexity(self) -> float:
        """``exp(-mean log p)`` over the continuation's tokens."""
        return math.exp(-self.mean_logprob)


class CompletionResult(BaseModel):
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    tokens: list[str] = Field(default_factory=list, description="generated tokens (when logprobs were asked)")
    token_logprobs: list[float] = Field(default_factory=list, description="their log-probabilities")


class OpenAICompatError(RuntimeError):
    """A server answered with an error or an unexpected body; the message says which."""


class OpenAICompatClient:
    """Async raw calls to an OpenAI-compatible (vLLM) server, through the same balancing,
    retrying, usage-recording transport as the chat models."""

    def __init__(
        self, transport: BalancedTransport, *, model: str, api_key: str = "EMPTY", timeout_s: float = 120.0
    ) -> None:
        self.transport = transport
        self.model = model
        self.base_url = transport.nominal_base_url
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    @classmethod
    def for_role(
        cls,
        role: RoleSettings | LoopToolConfig,
        role_name: str | None = None,
        *,
        usage: UsageRecorder | None = None,
    ) -> OpenAICompatClient:
        """A client for one role (see :func:`looptool.roles.bind_role`)."""
        bound = bind_role(role, role_name)
        settings = bound.settings
        transport = BalancedTransport.for_role(settings, role_name=bound.name, usage=usage)
        return cls(transport, model=settings.model, api_key=settings.api_key, timeout_s=settings.timeout_s)

    async def __aenter__(self) -> OpenAICompatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = await self._client.post(self.base_url + path, json=payload)
        if response.status_code >= 400:
            raise OpenAICompatError(f"POST {path} -> HTTP {response.status_code}: {response.text[:500]}")
        data = response.json()
        if not isinstance(data, dict):
            raise OpenAICompatError(f"POST {path}: expected a JSON object, got {type(data).__name__}")
        return data

    async def models(self) -> list[str]:
        """The served model names (including hot-loaded LoRA adapters)."""
        response = await self._client.get(self.base_url + "/models")
        if response.status_code >= 400:
            raise OpenAICompatError(f"GET /models -> HTTP {response.status_code}: {response.text[:300]}")
        return [str(item["id"]) for item in response.json().get("data", [])]

    async def tokenize(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        """Token ids of ``text`` with the served tokenizer (vLLM ``/tokenize``)."""
        return await self._tokens({"model": self.model, "prompt": text, "add_special_tokens": add_special_tokens})

    async def tokenize_chat(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        add_generation_prompt: bool = True,
    ) -> list[int]:
        """Token ids of ``messages`` rendered by the served model's chat template."""
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "add_generation_prompt": add_generation_prompt,
            "add_special_tokens": False,
        }
        if tools:
            payload["tools"] = tools
        return await self._tokens(payload)

    async def _tokens(self, payload: dict[str, Any]) -> list[int]:
        response = await self._client.post(server_root(self.base_url) + "/tokenize", json=payload)
        if response.status_code >= 400:
            raise OpenAICompatError(f"POST /tokenize -> HTTP {response.status_code}: {response.text[:300]}")
        return [int(token) for token in response.json()["tokens"]]

    async def health(self) -> bool:
        """Whether the server's ``/health`` answers 200."""
        try:
            response = await self._client.get(server_root(self.base_url) + "/health")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def complete(
        self, prompt: str | list[int], *, max_tokens: int = 64, temperature: float = 0.0, **extra: Any
    ) -> CompletionResult:
        """A plain ``/v1/completions`` call."""
        data = await self._post(
            "/completions",
            {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": temperature, **extra},
        )
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        logprobs = choice.get("logprobs") or {}
        return CompletionResult(
            text=choice.get("text", ""),
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            tokens=[str(token) for token in logprobs.get("tokens") or []],
            token_logprobs=[float(value) for value in logprobs.get("token_logprobs") or [] if value is not None],
        )

    async def prompt_logprobs(self, prompt: str | list[int]) -> list[TokenLogprob | None]:
        """Per-token log-probabilities of ``prompt`` itself (``None`` for the first token,
        which has no context), via ``/v1/completions`` with ``prompt_logprobs=0``."""
        data = await self._post(
            "/completions",
            {"model": self.model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0},
        )
        raw = data["choices"][0].get("prompt_logprobs")
        if raw is None:
            raise OpenAICompatError("server returned no prompt_logprobs (is it vLLM?)")
        ids = prompt if isinstance(prompt, list) else None
        result: list[TokenLogprob | None] = []
        for index, position in enumerate(raw):
            if not position:
                result.append(None)
                continue
            # with prompt_logprobs=0 a position holds the prompt token (and, in some versions,
            # the top-1 token too): take the prompt token's entry when the ids are known
            key = str(ids[index]) if ids is not None and index < len(ids) else next(iter(position))
            info = position.get(key) or next(iter(position.values()))
            token_id = int(key) if key in position else int(next(iter(position)))
            result.append(TokenLogprob(token_id=token_id, token=str(info.get("decoded_token") or ""), logprob=float(info["logprob"])))
        return result

    async def continuation_logprobs(
        self, context: str | list[int], continuation: str | list[int]
    ) -> ContinuationScore:
        """Log-probabilities of ``continuation``'s tokens after ``context``.

        Both parts are tokenized separately (no special tokens added) and sent as one token
        list, so the continuation's positions are exact. Render chat contexts with the model's
        chat template first (e.g. ``looptool.prompts.chat_messages`` + the tokenizer).
        """
        context_ids = context if isinstance(context, list) else await self.tokenize(context)
        continuation_ids = continuation if isinstance(continuation, list) else await self.tokenize(continuation)
        if not continuation_ids:
            raise OpenAICompatError("continuation is empty")
        ids = list(context_ids) + list(continuation_ids)
        logprobs = await self.prompt_logprobs(ids)
        tail = logprobs[len(context_ids):]
        scored: list[TokenLogprob] = []
        for expected, item in zip(continuation_ids, tail, strict=True):
            if item is None:
                raise OpenAICompatError("the continuation's first token has no context to score it")
            if item.token_id != expected:
                raise OpenAICompatError(f"server scored token {item.token_id}, expected prompt token {expected}")
            scored.append(item)
        return ContinuationScore(token_logprobs=scored)
