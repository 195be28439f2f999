"""A structured reply cut off at max_tokens is traced with the tokens the server spent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from looptool.agents.role_call import RoleBinding, RoleOutputError, call_structured
from looptool.traces import EventKind, TraceStore
from tests.fake_models import answering


class Answer(BaseModel):
    text: str


def cut_off_completion() -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "c1", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "length",
                         "message": {"role": "assistant", "content": '{"text": "aaaa'}}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 200, "total_tokens": 240},
        }
    )


def test_cut_off_structured_reply_keeps_its_token_counts(tmp_path: Path) -> None:
    # always runs into the token limit, like a small model looping inside a JSON string
    cut_off = answering(openai.LengthFinishReasonError(completion=cut_off_completion()))
    store = TraceStore.for_run(tmp_path)
    binding = RoleBinding(model=cut_off, role="planner", trace_id="d1", traces=store, parse_retries=1)
    with pytest.raises(RoleOutputError, match="no valid Answer after 2 attempt"):
        asyncio.run(call_structured(binding, "planner", [{"role": "user", "content": "plan"}], Answer))
    calls = store.events("d1", kind=EventKind.LLM_CALL)
    store.close()
    assert len(calls) == 2
    assert all(call.completion_tokens == 200 and call.prompt_tokens == 40 for call in calls)
    assert all("LengthFinishReasonError" in call.data["error"] for call in calls)
