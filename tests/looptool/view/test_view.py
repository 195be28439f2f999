"""The run browser's data layer and pages on a scripted run folder: filters, links,
escaping of every model-written field, and clear pages for bad input."""

from __future__ import annotations

import html
import json
import re
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from looptool.cli import main
from looptool.errors import UserError
from looptool.view.app import ViewApp, resolve_runs
from looptool.view.html import seg
from looptool.view.runfolder import RunFolder, RunKind, StageStatus
from looptool.view.samples import SampleFilter, build_index
from looptool.view.server import ViewServer
from looptool.view.tracequery import TraceFilter, list_traces
from tests.looptool.view.scripted_run import SCRIPT, build_run

CELL = "base/eval/benchmarks/cells/base__prompt_hermes/bfcl_v3"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return build_run(tmp_path / "run")


@pytest.fixture
def app(run: Path) -> ViewApp:
    return ViewApp(resolve_runs([run]))


def get(app: ViewApp, path: str, status: int = 200) -> str:
    response = app.handle(path)
    body = response.body.decode("utf-8")
    assert response.status == status, body
    assert "Traceback" not in body
    return body


def text_of(body: str) -> str:
    return re.sub(r"<[^>]+>", " ", body)


# ---------------------------------------------------------------- data layer


def test_the_run_folder_is_read_as_a_loop_run(run: Path) -> None:
    folder = RunFolder.open(run)
    assert folder.kind is RunKind.LOOP
    assert [state.status for state in folder.iteration_stages(folder.iterations()[0])] == [StageStatus.DONE] * 6
    assert [path.name for path in folder.trace_stores()] == ["traces.sqlite"]
    assert "sk-secret" not in (folder.config_text() or "")


@pytest.mark.parametrize(
    ("wanted", "ids"),
    [
        (SampleFilter(origin="relabeled"), {"s3~lr1"}),
        (SampleFilter(verdict="LABEL_WRONG"), {"s3"}),
        (SampleFilter(mode="loop", iteration=1, set="next"), {"s2", "s3~lr1", "s2-x1"}),
        (SampleFilter(mode="loop", iteration=1, set="data"), {"s1", "s2", "s3"}),
        (SampleFilter(set="heldout"), {"h1"}),
        (SampleFilter(set="next", iteration=2), set()),
        (SampleFilter(tool="get_weather", set="seed"), {"s1", "s2", "s3"}),
        (SampleFilter(q="bergen-new"), {"s3~lr1"}),
        (SampleFilter(origin="expanded", iteration=1), {"s2-x1"}),
        (SampleFilter(mode="loop", iteration=1, set="next", part="error_seeds"), {"s2", "s3~lr1"}),
        (SampleFilter(mode="loop", iteration=1, set="next", part="expansions"), {"s2-x1"}),
        (SampleFilter(mode="loop", iteration=1, set="judged", origin="relabeled"), {"s3~lr1"}),
    ],
)
def test_sample_filters(run: Path, wanted: SampleFilter, ids: set[str]) -> None:
    index = build_index(RunFolder.open(run))
    assert {row.id for row in index.filter(wanted)} == ids


@pytest.mark.parametrize(
    ("wanted", "ids"),
    [
        (TraceFilter(), {"jglv:1:s3", "edde:1:s2", "dlg-000001", "dlg-000002"}),
        (TraceFilter(status="rejected"), {"dlg-000002"}),
        (TraceFilter(status="LABEL_WRONG"), {"jglv:1:s3"}),
        (TraceFilter(iteration=1), {"jglv:1:s3", "edde:1:s2"}),
        (TraceFilter(kind="dialogue", tool="get_weather"), {"dlg-000001"}),
        (TraceFilter(q="wrong city"), set()),
        (TraceFilter(q="Judge this dialogue"), {"jglv:1:s3"}),
        (TraceFilter(sample="s2"), {"edde:1:s2"}),
    ],
)
def test_trace_filters(run: Path, wanted: TraceFilter, ids: set[str]) -> None:
    rows, problems = list_traces(RunFolder.open(run), wanted)
    assert problems == []
    assert {row.info.trace_id for row in rows} == ids


# ---------------------------------------------------------------- pages


def test_overview_shows_stages_accuracy_tokens_benchmarks_and_masks_secrets(app: ViewApp) -> None:
    body = get(app, "/run/0/")
    text = text_of(body)
    assert "loop/iter_1" in text and "done 2.5 s" in text
    assert "<svg" in body and "held-out ToolMatch" in text
    assert "judge" in text and "1,200" in text
    assert "bfcl_v3" in text and f"/run/0/cell/{seg(CELL)}" in body
    assert "sk-secret" not in body and "api_key: &#x27;***&#x27;" in body


def test_composition_counts_link_to_exactly_those_samples(app: ViewApp) -> None:
    body = get(app, "/run/0/composition")
    links = dict(re.findall(r'<a href="(/run/0/samples\?[^"]+)">(\d+)</a>', body))
    assert links, body
    for href, count in links.items():
        listing = get(app, href.replace("&amp;", "&"))
        assert f"{count} of " in listing, (href, count)
    assert "error_seeds 2, expansions 1" in body  # composition.json, next to the linked counts
    parts = {re.search(r"part=(\w+)", href).group(1): count for href, count in links.items() if "part=" in href}  # type: ignore[union-attr]
    assert parts == {"error_seeds": "2", "expansions": "1"}
    relabeled = [href for href in links if "origin=relabeled" in href]
    assert len(relabeled) == 1 and "s3~lr1" in get(app, relabeled[0].replace("&amp;", "&"))


def test_a_relabeled_sample_shows_prediction_verdict_old_label_lineage_and_trace(app: ViewApp) -> None:
    body = get(app, f"/run/0/sample/{seg('s3~lr1')}")
    text = text_of(body)
    assert "LABEL_WRONG" in text and "the label names the wrong city" in text
    assert "Old label" in text and '&quot;Bergen&quot;' in body  # the old label's argument
    assert "Bergen-new" in text  # the prediction it was judged against, now the label
    assert 'href="/run/0/sample/s3"' in body  # parent link
    assert f'href="/run/0/trace/traces.sqlite/{seg("jglv:1:s3")}"' in body


def test_a_seed_sample_links_its_expansions_and_relabel(app: ViewApp) -> None:
    body = get(app, "/run/0/sample/s2")
    assert f'href="/run/0/sample/{seg("s2-x1")}"' in body and "PRED_WRONG" in body
    assert f'href="/run/0/trace/traces.sqlite/{seg("edde:1:s2")}"' in body
    assert f'href="/run/0/sample/{seg("s3~lr1")}"' in get(app, "/run/0/sample/s3")


def test_a_trace_page_shows_every_step(app: ViewApp) -> None:
    body = get(app, f"/run/0/trace/traces.sqlite/{seg('jglv:1:s3')}")
    text = text_of(body)
    assert "#1 llm_call" in text and "role=judge" in text and "tokens 120→30" in text
    assert "#2 verdict" in text and "2 of 2 judges: the label is wrong" in text
    assert "Judge this dialogue" in text  # the prompt's messages
    assert 'href="/run/0/sample/s3"' in body


def test_rejects_are_grouped_by_reason_with_trace_links(app: ViewApp) -> None:
    body = get(app, "/run/0/rejects")
    assert "unknown_tool" in body and "missing_call" in body
    assert f'href="/run/0/trace/traces.sqlite/{seg("edde:1:s2")}"' in body
    assert f'href="/run/0/trace/traces.sqlite/{seg("dlg-000002")}"' in body


def test_benchmark_entry_shows_output_and_checker_verdict(app: ViewApp) -> None:
    assert "50.0%" in get(app, "/run/0/benchmarks")
    body = get(app, f"/run/0/cell/{seg(CELL)}/simple_0")
    assert "The area is 25" in body and "wrong_count" in body


PAGES = ["/run/0/", "/run/0/composition", "/run/0/samples", "/run/0/samples?q=bergen", f"/run/0/sample/{seg('s3~lr1')}",
         "/run/0/sample/s3", "/run/0/traces", f"/run/0/trace/traces.sqlite/{seg('jglv:1:s3')}",
         f"/run/0/trace/traces.sqlite/{seg('edde:1:s2')}", "/run/0/rejects", "/run/0/benchmarks",
         f"/run/0/cell/{seg(CELL)}", f"/run/0/cell/{seg(CELL)}/simple_0"]


@pytest.mark.parametrize("path", PAGES)
def test_model_written_script_stays_text(app: ViewApp, path: str) -> None:
    body = get(app, path)
    assert "<script" not in body.lower()
    assert "<tool_call>" not in body


def test_the_escaped_script_is_shown_where_the_model_wrote_it(app: ViewApp) -> None:
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    for path in (f"/run/0/sample/{seg('s3~lr1')}", f"/run/0/trace/traces.sqlite/{seg('jglv:1:s3')}", "/run/0/rejects"):
        assert escaped in get(app, path), path
    assert escaped in get(app, "/run/0/samples?q=" + seg(SCRIPT))


def test_every_link_on_every_page_resolves(app: ViewApp) -> None:
    seen: set[str] = set()
    queue = ["/"]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        response = app.handle(path)
        assert response.status in (200, 302), (path, response.body[:300])
        if response.location:
            queue.append(response.location)
        if response.content_type.startswith("text/html"):
            queue += [html.unescape(href) for href in re.findall(r'href="([^"#]+)"', response.body.decode())]
    assert len(seen) > 25  # overview, lists, 8 samples, 4 traces, cells, entries, filtered lists


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/run/0/sample/nope", 404, "sample &#x27;nope&#x27; is not in run"),
        ("/run/3/", 404, "no run number 3"),
        ("/run/0/samples?iteration=x", 404, "iteration must be a number"),
        ("/run/0/trace/..%2F..%2Fetc%2Fpasswd/x", 500, "is not a trace store of"),
        ("/run/0/trace/traces.sqlite/nope", 404, "no trace &#x27;nope&#x27;"),
        ("/nothing", 404, "no page /nothing"),
    ],
)
def test_bad_requests_get_a_clear_page(app: ViewApp, path: str, status: int, message: str) -> None:
    assert message in get(app, path, status)


def test_a_missing_run_folder_is_a_one_line_cli_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(UserError, match="no such run folder"):
        resolve_runs([tmp_path / "gone"])
    assert main(["view", str(tmp_path / "gone")]) == 2
    assert "no such run folder" in caplog.text and "Traceback" not in caplog.text


def test_a_busy_port_is_a_one_line_cli_error(run: Path, caplog: pytest.LogCaptureFixture) -> None:
    with ViewServer(ViewApp(resolve_runs([run]))) as busy:
        assert main(["view", str(run), "--port", str(busy.server_address[1])]) == 2
    assert "cannot listen on 127.0.0.1:" in caplog.text and "Traceback" not in caplog.text


def test_a_corrupt_trace_store_is_named_on_the_pages(run: Path, app: ViewApp) -> None:
    (run / "traces.sqlite").write_bytes(b"this is not sqlite" * 100)
    for suffix in ("-wal", "-shm"):
        (run / f"traces.sqlite{suffix}").unlink(missing_ok=True)
    assert "traces.sqlite" in get(app, "/run/0/")
    assert "traces.sqlite" in get(app, "/run/0/traces")
    assert "traces.sqlite" in get(app, f"/run/0/trace/traces.sqlite/{seg('jglv:1:s3')}", 500)
    assert get(app, f"/run/0/sample/{seg('s3~lr1')}")  # the sample still shows, without trace links


def test_a_half_written_run_shows_what_is_there(tmp_path: Path) -> None:
    run = build_run(tmp_path / "run", report=False)
    iteration = run / "loop" / "iter_1"
    (iteration / "iteration.json").unlink()
    (run / "loop" / "iter_1" / "compose.done").unlink()
    with (iteration / "data.jsonl").open("a", encoding="utf-8") as stream:
        stream.write('{"id": "torn", "tools": [')  # a writer killed mid-line
    app = ViewApp(resolve_runs([run]))
    overview = text_of(get(app, "/run/0/"))
    assert "No loop report yet" in overview and "running" in overview
    assert "s2-x1" in get(app, "/run/0/samples")
    (iteration / "judge" / "verdicts.jsonl").write_text("garbage\n", encoding="utf-8")
    assert "verdicts.jsonl:1: invalid JSON" in get(app, "/run/0/samples", 500)


def test_a_run_folder_removed_while_serving_gets_a_page(run: Path, app: ViewApp) -> None:
    shutil.rmtree(run)
    assert "the run folder is gone" in get(app, "/run/0/", 404)


def test_a_running_run_shows_new_results_on_reload(run: Path, app: ViewApp) -> None:
    assert "4 of 7 samples" not in get(app, "/run/0/samples?set=seed")
    from tests.looptool.view.scripted_run import sample

    with (run / "seed" / "train.jsonl").open("a", encoding="utf-8") as stream:
        stream.write(sample("s4", "Kyiv").model_dump_json() + "\n")
    assert "4 of 7 samples" in get(app, "/run/0/samples?set=seed")


def test_several_runs_share_one_accuracy_chart(tmp_path: Path, run: Path) -> None:
    other = build_run(tmp_path / "other")
    body = get(ViewApp(resolve_runs([run, other])), "/")
    assert body.count("<svg") == 2 and "run/loop" in body and "other/loop" in body


def test_static_pipeline_and_eval_only_folders(tmp_path: Path, run: Path) -> None:
    pipeline = tmp_path / "pipeline"
    (pipeline / "synth").mkdir(parents=True)
    shutil.copy(run / "seed" / "train.jsonl", pipeline / "synth" / "samples.jsonl")
    (pipeline / "synth" / "rejects.jsonl").write_text(json.dumps(
        {"dialogue_id": "dlg-000009", "index": 9, "stage": "rules", "reasons": [f"missing_call: {SCRIPT}"]}) + "\n",
        encoding="utf-8")
    evaluation = tmp_path / "eval"
    shutil.copytree(run / CELL, evaluation / "cells" / "base__prompt_hermes" / "bfcl_v3")
    app = ViewApp(resolve_runs([pipeline, evaluation]))
    assert "static pipeline run" in get(app, "/run/0/")
    assert "3 of 4 samples" in get(app, "/run/0/samples?status=accepted")
    assert "dlg-000009" in get(app, "/run/0/rejects") and "<script" not in get(app, "/run/0/rejects")
    assert "dlg-000009" in get(app, "/run/0/sample/dlg-000009")
    assert "evaluation run" in get(app, "/run/1/") and "50.0%" in get(app, "/run/1/benchmarks")
    for path in ("/run/1/composition", "/run/1/samples", "/run/1/rejects"):
        get(app, path)
    assert "holds no trace store" in get(app, "/run/1/traces")
    assert 'href="/run/1/"' in get(app, "/")


# ---------------------------------------------------------------- server and CLI


@pytest.fixture
def server(app: ViewApp) -> Iterator[ViewServer]:
    served = ViewServer(app)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()


def test_the_server_answers_on_loopback_with_a_strict_policy(server: ViewServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(server.url) as response:  # redirected to the only run
        assert response.status == 200 and response.url.endswith("/run/0/")
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert "Iterations x stages" in response.read().decode()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(server.url + "run/0/chart.png")
    assert missing.value.code == 404 and "no accuracy chart yet" in missing.value.read().decode()


def test_a_foreign_host_name_is_refused(server: ViewServer) -> None:
    request = urllib.request.Request(server.url + "run/0/", headers={"Host": "evil.example:80"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 421
    port = server.server_address[1]
    with urllib.request.urlopen(urllib.request.Request(server.url + "run/0/", headers={"Host": f"localhost:{port}"})) as ok:
        assert ok.status == 200


def test_traces_list_and_export(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["traces", "list", str(run), "--status", "rejected"]) == 0
    listed = capsys.readouterr()
    assert "1 traces in" in listed.err and "dlg-000002" in listed.err.replace("\n", "").replace("│", "").replace(" ", "")
    out = tmp_path / "traces.jsonl"
    assert main(["traces", "export", str(run), "--format", "jsonl", "--iteration", "1", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {record["trace_id"] for record in records} == {"jglv:1:s3", "edde:1:s2"}
    judge = next(record for record in records if record["trace_id"] == "jglv:1:s3")
    assert [event["kind"] for event in judge["events"]] == ["llm_call", "verdict"] and judge["store"] == "traces.sqlite"
    assert main(["traces", "list", str(tmp_path / "none")]) == 2
