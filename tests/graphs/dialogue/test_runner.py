"""The runner: outputs, rejects with reasons, traces, resume, server failures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from looptool.config import LoopToolConfig, load_config
from looptool.graphs.dialogue.config import DialogueSynthSettings
from looptool.graphs.dialogue.run import (
    DIALOGUES_FILE,
    FAILURES_FILE,
    JOURNAL_FILE,
    REJECTS_FILE,
    SAMPLES_FILE,
    DialogueRunner,
    ModelServerError,
    RunModels,
    run_dialogue_synthesis,
    run_dialogues,
)
from looptool.jsonl import read_jsonl
from looptool.schema import Dialogue, Sample
from looptool.traces import EventKind, TraceStore
from tests.fake_models import ModelCall, Reply, ScriptedChatModel, answering
from tests.graphs.dialogue.fakes import (
    ADD_TOOL,
    ScriptedToolRunner,
    hermes,
    plan_json,
    user_json,
    verdict_json,
)

OVERRIDES = [
    "dialogue_synth.tools_offered={min: 1, max: 1}",
    "dialogue_synth.turns={min: 1, max: 1}",
    "dialogue_synth.parallel_share=0",
    "dialogue_synth.irrelevance_share=0",
    "dialogue_synth.withhold_share=0",
]


def config(*extra: str) -> LoopToolConfig:
    return load_config(None, [*OVERRIDES, *extra])


def _last(call: ModelCall) -> str:
    return str(call.messages[-1].content)


def user_script(call: ModelCall) -> str:
    return user_json("Please add 2 and 3.") if "first message" in _last(call) else user_json("bye", done=True)


def assistant_script(call: str = "add", arguments: dict[str, Any] | None = None) -> Reply:
    def respond(model_call: ModelCall) -> str:
        if "<tool_response>" in _last(model_call):
            return "The answer is 5."
        return hermes(call, arguments if arguments is not None else {"a": 2, "b": 3})

    return respond


def models(*, assistant: Reply | None = None, judge: Reply | None = None) -> tuple[RunModels, dict[str, ScriptedChatModel]]:
    scripted = {
        "planner": answering(plan_json()),
        "user": answering(user_script),
        "assistant": answering(assistant or assistant_script()),
        "judge": answering(judge or verdict_json(True)),
    }
    run_models = RunModels(planner=scripted["planner"], user=scripted["user"],
                           assistant=scripted["assistant"], judge=scripted["judge"],
                           simulator=lambda tools: ScriptedToolRunner(tools))
    return run_models, scripted


def run(tmp_path: Path, n: int, run_models: RunModels, *extra: str) -> Any:
    return run_dialogue_synthesis(config(*extra), tmp_path, n=n, concurrency=3,
                                  models=run_models, library=[ADD_TOOL])


def test_accepted_dialogues_become_samples_and_traces(tmp_path: Path) -> None:
    run_models, _ = models()
    report = run(tmp_path, 3, run_models)
    assert (report.accepted, report.rejected, report.failed, report.samples) == (3, 0, 0, 6)
    dialogues = read_jsonl(tmp_path / DIALOGUES_FILE, Dialogue)
    assert sorted(d.id for d in dialogues) == ["dlg-000000", "dlg-000001", "dlg-000002"]
    assert all(d.metadata["status"] == "accepted" for d in dialogues)
    samples = read_jsonl(tmp_path / SAMPLES_FILE, Sample)
    assert len(samples) == 6 and len({s.id for s in samples}) == 6
    assert not (tmp_path / REJECTS_FILE).exists()
    assert (tmp_path / "synth-dialogues.done").exists()
    store = TraceStore.for_run(tmp_path, readonly=True)
    assert store.summary().by_status == {"accepted": 3}


def test_invented_tool_is_rejected_with_reason_in_rejects_and_traces(tmp_path: Path) -> None:
    run_models, scripted = models(assistant=assistant_script("multiply"))
    report = run(tmp_path, 2, run_models)
    assert (report.accepted, report.rejected) == (0, 2)
    assert report.reject_reasons == {"unknown_tool": 2}
    rejects = [json.loads(line) for line in (tmp_path / REJECTS_FILE).read_text().splitlines()]
    assert {r["stage"] for r in rejects} == {"rules"}
    assert "'multiply' is not an offered tool" in rejects[0]["reasons"][0]
    assert rejects[0]["dialogue"]["messages"][1]["tool_calls"][0]["name"] == "multiply"
    assert not (tmp_path / SAMPLES_FILE).exists()
    assert scripted["judge"].calls == []  # rules rejected before the judge
    store = TraceStore.for_run(tmp_path, readonly=True)
    trace = store.trace(rejects[0]["dialogue_id"])
    assert trace is not None and trace.status == "rejected"
    assert "unknown_tool" in trace.metadata["reason"]


def test_missing_required_parameter_is_rejected(tmp_path: Path) -> None:
    run_models, _ = models(assistant=assistant_script("add", {"a": 2}))
    report = run(tmp_path, 1, run_models)
    assert report.rejected == 1
    record = json.loads((tmp_path / REJECTS_FILE).read_text())
    assert record["violations"][0]["rule"] == "missing_required"
    assert "'b' is a required property" in record["reasons"][0]


def test_judge_rejection_is_recorded(tmp_path: Path) -> None:
    run_models, _ = models(judge=verdict_json(False, "the user asked for something else"))
    report = run(tmp_path, 1, run_models)
    assert report.rejected == 1 and report.reject_reasons == {"judge": 1}
    record = json.loads((tmp_path / REJECTS_FILE).read_text())
    assert record["stage"] == "judge"
    assert record["judgements"] == [
        {"step": step, "consistent": False, "reason": "the user asked for something else"}
        for step in (0, 1)
    ]
    assert record["reasons"][0] == "step 0: judge: the user asked for something else"
    store = TraceStore.for_run(tmp_path, readonly=True)
    verdicts = store.events("dlg-000000", kind=EventKind.VERDICT)
    assert verdicts[-1].node == "judge" and verdicts[-1].data["consistent"] is False


def test_resume_skips_finished_dialogues_and_repairs_a_kill(tmp_path: Path) -> None:
    first, _ = models()
    run(tmp_path, 3, first)
    # a kill mid-write: a torn journal line, and outputs that lag behind the journal
    with (tmp_path / JOURNAL_FILE).open("a") as stream:
        stream.write('{"id": "dlg-000003", "status": "accepted", "result": {"dialogue": {"id": "dlg-0')
    orphan = read_jsonl(tmp_path / SAMPLES_FILE, Sample)[0].model_copy(update={"id": "dlg-000003-t0"})
    with (tmp_path / SAMPLES_FILE).open("a") as stream:
        stream.write(orphan.model_dump_json() + "\n")

    second, scripted = models()
    report = run(tmp_path, 5, second)
    assert report.already_done == 3 and report.accepted == 2
    assert len(scripted["planner"].calls) == 2  # only indices 3 and 4 were simulated
    assert (tmp_path / JOURNAL_FILE).read_text().endswith("}\n")  # the torn line was cut
    dialogues = read_jsonl(tmp_path / DIALOGUES_FILE, Dialogue)
    assert [d.id for d in dialogues] == [f"dlg-00000{i}" for i in range(5)]
    samples = read_jsonl(tmp_path / SAMPLES_FILE, Sample)
    ids = [s.id for s in samples]
    assert len(ids) == len(set(ids)) == 10
    assert {s.lineage.dialogue_id for s in samples} == {d.id for d in dialogues}

    third, scripted = models()
    assert run(tmp_path, 5, third).already_done == 5
    assert scripted["planner"].calls == []


def test_outputs_without_a_journal_are_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / DIALOGUES_FILE).write_text('{"id": "dlg-000000"}\n')
    run_models, scripted = models()
    with pytest.raises(ValueError, match=f"no {JOURNAL_FILE}.*new run folder"):
        run(tmp_path, 1, run_models)
    assert scripted["planner"].calls == []
    assert (tmp_path / DIALOGUES_FILE).read_text() == '{"id": "dlg-000000"}\n'


def _connection_error(_call: ModelCall) -> str:
    raise openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))


def test_server_errors_are_logged_and_retried_on_rerun(tmp_path: Path) -> None:
    broken, _ = models(assistant=_connection_error)
    report = run(tmp_path, 2, broken)
    assert (report.failed, report.finished) == (2, 0)
    assert not (tmp_path / DIALOGUES_FILE).exists()
    failures = (tmp_path / FAILURES_FILE).read_text().splitlines()
    assert len(failures) == 2 and "APIConnectionError" in failures[0]
    store = TraceStore.for_run(tmp_path)
    assert store.summary().by_status == {"failed": 2}
    store.close()

    fixed, _ = models()
    report = run(tmp_path, 2, fixed)
    assert (report.accepted, report.finished) == (2, 2)


def test_run_stops_when_the_server_keeps_failing(tmp_path: Path) -> None:
    broken, _ = models(assistant=_connection_error)
    settings = config().section("dialogue_synth", DialogueSynthSettings)
    runner = DialogueRunner(settings, tmp_path, [ADD_TOOL], broken)
    with pytest.raises(ModelServerError, match="consecutive model-server errors"):
        asyncio.run(run_dialogues(runner, 20, concurrency=1, max_consecutive_failures=3))
    assert len((tmp_path / FAILURES_FILE).read_text().splitlines()) == 3
    assert not (tmp_path / DIALOGUES_FILE).exists()


def test_non_retriable_error_is_a_final_rejection(tmp_path: Path) -> None:
    def bad_request(_call: ModelCall) -> str:
        raise ValueError("prompt too long for the context window")

    run_models, _ = models(assistant=bad_request)
    report = run(tmp_path, 1, run_models)
    assert report.rejected == 1
    record = json.loads((tmp_path / REJECTS_FILE).read_text())
    assert record["stage"] == "error" and "prompt too long" in record["reasons"][0]
