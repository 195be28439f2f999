"""The API-synthesis graph with a scripted generator: routing, retries with feedback, drops."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import openai
import pytest

from looptool.agents.api_generator import ApiDraft, ApiGeneratorPrompts, draft_to_spec
from looptool.config import ConfigError
from looptool.graphs.api_synthesis.graph import (
    ApiSynthesisDeps,
    compile_api_synthesis_graph,
    recursion_limit,
)
from looptool.graphs.api_synthesis.rules import Rule
from looptool.graphs.api_synthesis.sampling import constraint_path, context_leaf, merge_request
from looptool.graphs.api_synthesis.settings import ApiSynthSettings
from looptool.schema import ToolSpec
from looptool.traces import TraceStore
from tests.fake_models import ScriptedChatModel
from tests.graphs.api_synthesis.drafts import valid_draft, valid_reply

SEED = 11


def deps_for(model: ScriptedChatModel, **kwargs: Any) -> ApiSynthesisDeps:
    settings = kwargs.pop("settings", ApiSynthSettings())
    return ApiSynthesisDeps.create(model, settings, seed=SEED, **kwargs)


def request_for(index: int) -> Any:
    probe = deps_for(ScriptedChatModel())
    leaf = context_leaf(probe.context_tree, SEED, index)
    path = constraint_path(probe.constraint_tree, SEED, index)
    return merge_request(leaf, probe.constraint_tree, path, index=index)


def run_graph(deps: ApiSynthesisDeps, index: int = 0) -> dict[str, Any]:
    graph = compile_api_synthesis_graph(deps)
    result = asyncio.run(graph.ainvoke({"index": index}, config={"recursion_limit": recursion_limit(deps.settings)}))
    return dict(result)


def broken_naming_reply(index: int) -> str:
    draft = valid_draft(request_for(index))
    draft["name"] = "X" + draft["name"].upper()
    return json.dumps(draft)


def test_accepts_a_valid_api_on_the_first_attempt() -> None:
    model = ScriptedChatModel(replies=[valid_reply(request_for(0))])
    result = run_graph(deps_for(model))
    assert result["status"] == "accepted"
    assert isinstance(result["tool"], ToolSpec)
    assert result["tool"].name == valid_draft(request_for(0))["name"]
    assert len(result["attempts"]) == 1 and result["attempts"][0].violations == []
    assert [call.kwargs["response_format"]["type"] for call in model.calls] == ["json_schema"]
    assert result["leaf"].path == [request_for(0).domain, request_for(0).subdomain, request_for(0).intent]


def test_violation_is_fed_back_then_fixed() -> None:
    model = ScriptedChatModel(replies=[broken_naming_reply(0), valid_reply(request_for(0))])
    result = run_graph(deps_for(model))
    assert result["status"] == "accepted"
    assert [bool(attempt.violations) for attempt in result["attempts"]] == [True, False]
    assert result["attempts"][0].violations[0].rule == Rule.NAMING
    retry_messages = model.calls[1].messages
    assert retry_messages[-2].type == "ai"
    assert json.loads(str(retry_messages[-2].content))["name"] == json.loads(broken_naming_reply(0))["name"]
    feedback = str(retry_messages[-1].content)
    assert "[naming]" in feedback and "attempt 2 of 3" in feedback


def test_dropped_after_max_attempts_with_the_reason() -> None:
    settings = ApiSynthSettings(max_attempts=2)
    model = ScriptedChatModel(replies=[broken_naming_reply(0), "{not json"])
    result = run_graph(deps_for(model, settings=settings))
    assert result["status"] == "rejected"
    assert result["tool"] is None
    assert len(model.calls) == 2
    assert result["reject_rule"] == Rule.OUTPUT_FORMAT.value
    assert "dropped after 2 attempt(s)" in result["reason"] and "not a valid ApiDraft" in result["reason"]
    assert result["retryable"] is False
    assert result["attempts"][0].violations[0].rule == Rule.NAMING


def test_model_server_failure_drops_as_retryable_without_feedback_loop() -> None:
    error = openai.APIConnectionError(request=__import__("httpx").Request("POST", "http://x/v1/chat/completions"))
    model = ScriptedChatModel(replies=[error])
    result = run_graph(deps_for(model))
    assert result["status"] == "rejected"
    assert result["retryable"] is True
    assert result["reject_rule"] == Rule.MODEL_ERROR.value
    assert len(model.calls) == 1


def test_duplicate_of_existing_tool_is_rejected() -> None:
    spec = draft_to_spec(ApiDraft.model_validate(valid_draft(request_for(0))))
    existing = ToolSpec.model_validate(spec)
    settings = ApiSynthSettings(max_attempts=1)
    model = ScriptedChatModel(replies=[valid_reply(request_for(0))])
    result = run_graph(deps_for(model, settings=settings, existing_tools=[existing]))
    assert result["status"] == "rejected"
    assert result["reject_rule"] == Rule.DUPLICATE.value
    assert f"existing tool {existing.name!r}" in result["reason"]


def test_copy_of_the_prompt_example_is_a_duplicate() -> None:
    request = request_for(0)
    draft = valid_draft(request)
    from looptool.agents.api_generator import apply_convention

    draft["name"] = apply_convention(["get", "weather", "forecast"], request.naming.convention)
    model = ScriptedChatModel(replies=[json.dumps(draft)])
    result = run_graph(deps_for(model, settings=ApiSynthSettings(max_attempts=1)))
    assert result["reject_rule"] == Rule.DUPLICATE.value
    assert "prompt's example" in result["reason"]


def test_every_step_is_traced(tmp_path: Path) -> None:
    store = TraceStore.for_run(tmp_path)
    model = ScriptedChatModel(replies=[broken_naming_reply(0), valid_reply(request_for(0))])
    run_graph(deps_for(model, traces=store))
    info = store.trace("api-000000")
    assert info is not None and info.status == "accepted" and info.kind == "api_synthesis"
    events = store.events("api-000000")
    assert [event.node for event in events] == [
        "sample_trees", "merge_request", "generate", "validate", "generate", "validate", "accept",
    ]
    llm_calls = [event for event in events if event.kind == "llm_call"]
    assert all(event.role == "generator" and event.prompt_tokens == 10 for event in llm_calls)
    assert "messages_in" in llm_calls[1].data
    verdicts = [event for event in events if event.kind == "verdict"]
    assert verdicts[0].data["rules"] == ["naming"] and verdicts[1].content == "ok"
    store.close()


def test_prompt_override_with_unknown_placeholder_fails_early() -> None:
    settings = ApiSynthSettings(prompts=ApiGeneratorPrompts(request="Make an API for $intent in $country"))
    with pytest.raises(ConfigError, match=r"api_synth.prompts: .*\$country"):
        deps_for(ScriptedChatModel(), settings=settings)


def test_prompt_override_is_used_and_versioned() -> None:
    settings = ApiSynthSettings(prompts=ApiGeneratorPrompts(system="Be terse. JSON only.", version="mine/v2"))
    model = ScriptedChatModel(replies=[valid_reply(request_for(0))])
    deps = deps_for(model, settings=settings)
    run_graph(deps)
    assert model.calls[0].messages[0].content == "Be terse. JSON only."
    assert "mine/v2" in deps.generator.prompt_version


def test_langgraph_json_factory_builds_the_graph() -> None:
    import importlib

    root = Path(__file__).resolve().parents[3]
    entry = json.loads((root / "langgraph.json").read_text(encoding="utf-8"))["graphs"]["api_synthesis"]
    module_path, _, attribute = entry.partition(":")
    module = importlib.import_module(module_path.removeprefix("./").removesuffix(".py").replace("/", "."))
    graph = getattr(module, attribute)({"configurable": {}})
    assert {"sample_trees", "merge_request", "generate", "validate", "accept", "drop"} <= set(graph.get_graph().nodes)
    assert graph.name == "api_synthesis"


def test_a_reply_cut_off_at_max_tokens_is_fed_back_with_its_text() -> None:
    from openai.types.chat import ChatCompletion

    completion = ChatCompletion.model_validate(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": '{"name": "get_'}}
            ],
            "usage": {"prompt_tokens": 700, "completion_tokens": 800, "total_tokens": 1500},
        }
    )
    model = ScriptedChatModel(replies=[openai.LengthFinishReasonError(completion=completion), valid_reply(request_for(0))])
    result = run_graph(deps_for(model))
    assert result["status"] == "accepted"
    first = result["attempts"][0]
    assert first.violations[0].rule == Rule.OUTPUT_FORMAT
    assert "cut off at the token limit (800 tokens)" in first.violations[0].message
    assert (first.raw_text, first.prompt_tokens, first.completion_tokens) == ('{"name": "get_', 700, 800)
    assert model.calls[1].messages[-2].content == '{"name": "get_'
