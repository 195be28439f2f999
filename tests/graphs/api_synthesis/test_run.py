"""The concurrent, resumable runner: outputs, rejects with reasons, resume, retryable failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from looptool.agents.api_generator import ApiRequest
from looptool.config import LoopToolConfig, load_config
from looptool.graphs.api_synthesis.graph import ApiSynthesisDeps
from looptool.graphs.api_synthesis.run import (
    APIS_FILE,
    JOURNAL_FILE,
    REJECTS_FILE,
    ApiReject,
    load_synthesized_apis,
    run_api_synthesis,
)
from looptool.graphs.api_synthesis.sampling import constraint_path, context_leaf, merge_request
from looptool.jsonl import DataFileError, read_jsonl
from looptool.rundir import RunDir
from looptool.traces import TraceStore
from tests.fake_models import ModelCall, ScriptedChatModel, answering
from tests.graphs.api_synthesis.drafts import valid_draft, valid_reply

SEED = 5


def config(**extra: str) -> LoopToolConfig:
    overrides = [f"api_synth.seed={SEED}", "api_synth.concurrency=4", *(f"api_synth.{k}={v}" for k, v in extra.items())]
    return load_config(None, overrides)


def requests_by_prompt(n: int) -> dict[str, tuple[int, ApiRequest]]:
    deps = ApiSynthesisDeps.create(ScriptedChatModel(), seed=SEED)
    table = {}
    for index in range(n):
        leaf = context_leaf(deps.context_tree, SEED, index)
        path = constraint_path(deps.constraint_tree, SEED, index)
        request = merge_request(leaf, deps.constraint_tree, path, index=index)
        table[deps.generator.render_request(request)] = (index, request)
    return table


def responder(n: int, bad: Callable[[int], bool] = lambda _: False, seen: list[int] | None = None) -> Callable[[ModelCall], str]:
    table = requests_by_prompt(n)

    def reply(call: ModelCall) -> str:
        index, request = table[str(call.messages[1].content)]
        if seen is not None:
            seen.append(index)
        if bad(index):
            draft = valid_draft(request)
            draft["description"] = ""
            return json.dumps(draft)
        return valid_reply(request)

    return reply


def test_run_writes_accepted_and_rejected_with_provenance(tmp_path: Path) -> None:
    model = answering(responder(6, bad=lambda index: index % 3 == 0))
    report = run_api_synthesis(config(), tmp_path, 6, [], chat_model=model, progress=False)
    assert (report.accepted, report.rejected, report.retryable_failures) == (4, 2, 0)
    assert report.reject_rules == {"descriptions": 2}
    assert report.attempts == 4 + 2 * 3
    apis = load_synthesized_apis(tmp_path / APIS_FILE)
    assert [api.provenance.index for api in apis] == [1, 2, 4, 5]
    first = apis[0]
    assert len(first.provenance.context_path) == 3 and first.provenance.seed == SEED
    assert first.provenance.constraint_path.naming_convention in {"snake_case", "camelCase", "kebab-case"}
    assert first.provenance.prompt_version.startswith("api-generator/")
    rejects = read_jsonl(tmp_path / REJECTS_FILE, ApiReject)
    assert [reject.index for reject in rejects] == [0, 3]
    assert all("shorter than 12 characters" in reject.reason and len(reject.attempts) == 3 for reject in rejects)
    assert RunDir(tmp_path).is_done("api_synthesis")
    store = TraceStore.for_run(tmp_path, readonly=True)
    assert store.summary().by_status == {"accepted": 4, "rejected": 2}
    store.close()


def test_rerun_skips_finished_indices_and_extends(tmp_path: Path) -> None:
    seen: list[int] = []
    run_api_synthesis(config(), tmp_path, 3, [], chat_model=answering(responder(5, seen=seen)), progress=False)
    assert sorted(seen) == [0, 1, 2]
    seen.clear()
    report = run_api_synthesis(config(), tmp_path, 5, [], chat_model=answering(responder(5, seen=seen)), progress=False)
    assert sorted(seen) == [3, 4]
    assert report.resumed == 3 and report.accepted == 5
    assert len(load_synthesized_apis(tmp_path / APIS_FILE)) == 5


def test_torn_journal_tail_is_redone(tmp_path: Path) -> None:
    run_api_synthesis(config(), tmp_path, 3, [], chat_model=answering(responder(3)), progress=False)
    journal = tmp_path / JOURNAL_FILE
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    last_index = json.loads(lines[-1])["result"]["index"]
    journal.write_text("".join(lines[:-1]) + lines[-1][:25], encoding="utf-8")  # killed mid-write
    seen: list[int] = []
    report = run_api_synthesis(config(), tmp_path, 3, [], chat_model=answering(responder(3, seen=seen)), progress=False)
    assert seen == [last_index]
    assert report.accepted == 3


def test_model_failures_are_retried_by_the_next_run(tmp_path: Path) -> None:
    good = responder(4)
    failing_prompt = next(prompt for prompt, (index, _) in requests_by_prompt(4).items() if index == 2)

    def flaky(call: ModelCall) -> str:
        if str(call.messages[1].content) == failing_prompt:
            raise openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions"))
        return good(call)

    report = run_api_synthesis(config(), tmp_path, 4, [], chat_model=answering(flaky), progress=False)
    assert (report.accepted, report.retryable_failures) == (3, 1)
    assert not RunDir(tmp_path).is_done("api_synthesis")
    rejects = read_jsonl(tmp_path / REJECTS_FILE, ApiReject)
    assert rejects[0].retryable and rejects[0].rule == "model_error"
    seen: list[int] = []
    report = run_api_synthesis(config(), tmp_path, 4, [], chat_model=answering(responder(4, seen=seen)), progress=False)
    assert seen == [2]
    assert (report.accepted, report.retryable_failures) == (4, 0)
    assert read_jsonl(tmp_path / REJECTS_FILE, ApiReject) == []
    assert RunDir(tmp_path).is_done("api_synthesis")


def test_existing_tools_may_be_library_records_or_dicts(tmp_path: Path) -> None:
    table = requests_by_prompt(1)
    (index, request), = table.values()
    spec = valid_draft(request)
    from looptool.agents.api_generator import ApiDraft, draft_to_spec

    tool = draft_to_spec(ApiDraft.model_validate(spec))
    model = answering(responder(1))
    report = run_api_synthesis(config(max_attempts=1), tmp_path, 1, [{"spec": tool}], chat_model=model, progress=False)
    assert report.reject_rules == {"duplicate": 1}


def test_a_journal_in_another_format_is_a_clear_error_and_outputs_stay(tmp_path: Path) -> None:
    (tmp_path / JOURNAL_FILE).write_text('{"index": 0, "accepted": null, "rejected": null}\n')
    (tmp_path / APIS_FILE).write_text("kept\n")
    seen: list[int] = []
    with pytest.raises(DataFileError, match=rf"{JOURNAL_FILE}:1: not a batch journal record"):
        run_api_synthesis(config(), tmp_path, 2, [], chat_model=answering(responder(2, seen=seen)), progress=False)
    assert seen == []
    assert (tmp_path / APIS_FILE).read_text() == "kept\n"
