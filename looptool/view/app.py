"""The run browser's request handling: URL -> page, independent of the HTTP server.

:class:`ViewApp` maps a path and query to a :class:`Response`. Every failure becomes a page
with one clear line (a missing sample, a damaged trace store, a half-written file); a bug is
logged with its traceback and shown as one line, never as a traceback in the browser.
The sample index of each run is cached and rebuilt when the run's files change, so a reload
shows what a running run has written since.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from looptool.errors import UserError
from looptool.jsonl import DataFileError
from looptool.loop.lineage import UnknownSampleError, sample_history
from looptool.loop.report import RunView, load_run
from looptool.loop.run_layout import RunFolderError
from looptool.traces import TraceStoreError
from looptool.view import page_parts, page_run, page_samples, page_traces
from looptool.view.cells import cell_by_key, cell_scores, entry_output, find_cells
from looptool.view.html import Safe, link, page, seg, tag
from looptool.view.rejects import collect_rejects, group_rejects
from looptool.view.runfolder import RunFolder, RunKind
from looptool.view.samples import (
    SampleFilter,
    SampleIndex,
    build_index,
    index_fingerprint,
    sample_index,
)
from looptool.view.tracequery import TraceFilter, list_traces, load_trace, open_store, trace_links

log = logging.getLogger(__name__)


class NotFound(UserError):
    """The page asks for something the run does not hold."""


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    location: str | None = None


def _html(status: int, title: str, body: Safe, nav: Safe | None = None) -> Response:
    return Response(status, "text/html; charset=utf-8", page(title, body, nav=nav).encode("utf-8"))


def _int(value: str, name: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise NotFound(f"{name} must be a number, got {value!r}") from None


class ViewApp:
    """Pages of one or several run folders."""

    def __init__(self, runs: list[RunFolder]) -> None:
        if not runs:
            raise UserError("looptool view needs at least one run folder")
        self.runs = runs
        self._lock = threading.Lock()
        self._indexes: dict[int, tuple[Any, SampleIndex]] = {}
        self._warming: set[int] = set()  # runs the warm-up thread has not read yet

    # ------------------------------------------------------------ data

    def index(self, number: int) -> SampleIndex:
        """The run's sample index, rebuilt when one of its files changed."""
        run = self.runs[number]
        stamp = index_fingerprint(run)
        with self._lock:
            cached = self._indexes.get(number)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            built = build_index(run)
            self._indexes[number] = (stamp, built)
            return built

    def sample_index(self, number: int, sample_id: str) -> SampleIndex:
        """What one sample's page needs: the run's index when it is read and current; while
        another thread reads the run (the warm-up, a list page), just that sample's lines
        (:func:`~looptool.view.samples.sample_index`, milliseconds instead of seconds). When
        the quick read does not find the sample, the page waits for the full read after all."""
        run = self.runs[number]
        cached = self._indexes.get(number)
        if cached is not None and cached[0] == index_fingerprint(run):
            return cached[1]
        if number in self._warming or self._lock.locked():
            try:
                quick = sample_index(run, sample_id)
            except (DataFileError, RunFolderError, OSError) as error:  # e.g. a file replaced meanwhile
                log.debug("view: quick read of %s failed (%s); reading the whole run", sample_id, error)
            else:
                if quick.raw(sample_id) is not None:
                    return quick
        return self.index(number)

    def warm_up(self) -> threading.Thread:
        """Read every run's samples in a background thread (a list page asked for meanwhile
        waits for it, a sample page reads only its own lines); a failure is logged here and
        shown by the page that needs the data."""
        self._warming.update(range(len(self.runs)))

        def read_all() -> None:
            for number in range(len(self.runs)):
                try:
                    self.index(number)
                except Exception as error:  # shown as a page when asked for
                    log.warning("view: reading %s: %s", self.runs[number].path, error)
                finally:
                    self._warming.discard(number)

        thread = threading.Thread(target=read_all, name="view-warm-up", daemon=True)
        thread.start()
        return thread

    def _report(self, run: RunFolder) -> tuple[RunView | None, str | None]:
        if run.kind is not RunKind.LOOP:
            return None, None
        try:
            return load_run(run.path, run.label), None
        except (RunFolderError, ValueError) as error:
            return None, f"No loop report yet: {error}"

    # ------------------------------------------------------------ routing

    def handle(self, raw_path: str) -> Response:
        path, _, query_text = raw_path.partition("?")
        query = {key: values[-1].strip() for key, values in parse_qs(query_text).items()}
        parts = [unquote(part) for part in path.strip("/").split("/")] if path.strip("/") else []
        try:
            return self._route(parts, query)
        except (NotFound, UnknownSampleError) as error:
            return _html(404, "Not found", page_parts.error_page_body(str(error)))
        except (UserError, TraceStoreError, RunFolderError, DataFileError) as error:
            return _html(500, "Cannot read this part of the run", page_parts.error_page_body(str(error)))
        except Exception as error:  # a bug: logged in full, one line in the browser
            log.exception("view: %s failed", raw_path)
            return _html(500, "Internal error", page_parts.error_page_body(
                f"{type(error).__name__}: {error} (the full traceback is in the looptool view log)"))

    def _route(self, parts: list[str], query: dict[str, str]) -> Response:
        if not parts:
            if len(self.runs) == 1:
                return Response(302, "text/plain", b"/run/0/", location="/run/0/")
            return _html(200, "Runs", page_run.runs_page(self.runs, [self._report(run)[0] for run in self.runs]),
                         tag("b", "LoopTool run browser"))
        if parts[0] != "run" or len(parts) < 2:
            raise NotFound(f"no page /{'/'.join(parts)}")
        number = _int(parts[1], "run")
        if number is None or not 0 <= number < len(self.runs):
            raise NotFound(f"no run number {parts[1]} (this browser shows {len(self.runs)} run(s))")
        run = self.runs[number]
        if not run.path.is_dir():
            raise NotFound(f"{run.path}: the run folder is gone")
        base = f"/run/{number}"
        nav = page_parts.nav(base, run, len(self.runs) > 1)
        what, rest = (parts[2] if len(parts) > 2 else ""), parts[3:]
        title, body = self._page(number, run, base, what, rest, query)
        if isinstance(body, Response):
            return body
        return _html(200, title, body, nav)

    def _page(self, number: int, run: RunFolder, base: str, what: str, rest: list[str],
              query: dict[str, str]) -> tuple[str, Safe | Response]:
        if what == "":
            view, problem = self._report(run)
            summaries, problems = [], []
            for store_path in run.trace_stores():
                try:
                    with open_store(store_path) as store:
                        summaries.append((str(store_path.relative_to(run.path)), store.summary()))
                except TraceStoreError as error:
                    problems.append(str(error))
            return f"Run {run.label}", page_run.overview_page(base, run, view, problem, summaries, problems,
                                                          find_cells(run))
        if what == "chart.png":
            chart = run.chart()
            if chart is None:
                raise NotFound("this run has no accuracy chart yet")
            return "", Response(200, "image/png", chart.read_bytes())
        if what == "composition":
            return "Dataset composition per iteration", page_run.composition_page(base, run, self.index(number))
        if what == "samples":
            wanted = SampleFilter(mode=query.get("mode", ""), iteration=_int(query.get("iteration", ""), "iteration"),
                                  set=query.get("set", ""), part=query.get("part", ""),
                                  origin=query.get("origin", ""),
                                  verdict=query.get("verdict", ""), tool=query.get("tool", ""),
                                  status=query.get("status", ""), q=query.get("q", ""))
            return "Samples", page_samples.samples_page(base, self.index(number), wanted, _int(query.get("page", ""), "page") or 0)
        if what == "sample" and len(rest) == 1:
            return f"Sample {rest[0]}", self._sample(run, base, number, rest[0])
        if what == "traces":
            wanted_traces = TraceFilter(kind=query.get("kind", ""), iteration=_int(query.get("iteration", ""), "iteration"),
                                        status=query.get("status", ""), tool=query.get("tool", ""),
                                        q=query.get("q", ""), sample=query.get("sample", ""))
            rows, problems = list_traces(run, wanted_traces)
            kinds = sorted({row.info.kind for row in rows} | ({wanted_traces.kind} - {""}))
            return "Traces", page_traces.traces_page(base, rows, problems, wanted_traces,
                                               _int(query.get("page", ""), "page") or 0, kinds,
                                               len(run.trace_stores()))
        if what == "trace" and len(rest) == 2:
            info, events = load_trace(run, rest[0], rest[1])
            if info is None:
                raise NotFound(f"no trace {rest[1]!r} in {rest[0]}")
            index = self.index(number)
            subject = info.metadata.get("sample_id") or info.metadata.get("seed_id")
            samples = [link(f"{base}/sample/{seg(str(subject))}", str(subject))] if subject in index.rows else []
            samples += [link(f"{base}/sample/{seg(row.id)}", row.id) for row in index.rows.values()
                        if row.dialogue_id == info.trace_id and row.id != subject][:50]
            return f"Trace {info.trace_id}", page_traces.trace_page(info, events, rest[0], samples)
        if what == "rejects":
            index = self.index(number)
            groups = group_rejects(collect_rejects(run, index))
            links = trace_links(run, {item.trace_id for group in groups for item in group.items if item.trace_id})
            return "Rejects by reason", page_traces.rejects_page(base, groups, links, set(index.rows))
        if what == "benchmarks":
            return "Benchmarks", page_run.benchmarks_page(base, find_cells(run))
        if what == "cell" and rest:
            cell = cell_by_key(run, rest[0])
            if cell is None:
                raise NotFound(f"no benchmark cell {rest[0]!r} in this run")
            scores = cell_scores(cell)
            if len(rest) == 1:
                return f"Cell {cell.model} / {cell.benchmark}", page_run.cell_page(base, cell, scores)
            score = next((s for s in scores if s.entry_id == rest[1]), None)
            output = entry_output(cell, rest[1])
            if score is None and output is None:
                raise NotFound(f"no entry {rest[1]!r} in {cell.key}")
            return f"Entry {rest[1]}", page_run.entry_page(cell, output, score)
        raise NotFound(f"no page {base}/{'/'.join([what, *rest])}")

    def _sample(self, run: RunFolder, base: str, number: int, sample_id: str) -> Safe:
        index = self.sample_index(number, sample_id)
        data = index.raw(sample_id)
        if data is None:
            raise NotFound(f"sample {sample_id!r} is not in run {run.path}")
        row = index.rows.get(sample_id)
        probes: list[tuple[str, dict[str, Any]]] = []
        judgements: list[tuple[str, dict[str, Any]]] = []
        steps = []
        children: list[str] = []
        run_index = index.run_index
        if run_index is not None:
            subject = sample_id
            lineage = data.get("lineage") if isinstance(data.get("lineage"), dict) else {}
            if isinstance(lineage, dict) and lineage.get("origin") == "relabeled" and lineage.get("parent_id"):
                subject = str(lineage["parent_id"])  # judged (and probed) as its parent
            probes = [(folder.label, line.data) for folder, line in run_index.probes.get(subject, [])
                      if subject == sample_id or not line.data.get("matched")]
            judgements = [(folder.label, line.data) for folder, line in run_index.judgements.get(subject, [])
                          if subject == sample_id or line.data.get("new_sample_id") == sample_id]
            if sample_id in run_index.occurrences or sample_id in run_index.probes:
                steps = sample_history(run.path, sample_id, index=run_index)
            children = list(run_index.children.get(sample_id, []))
        iterations = sorted({folder.iteration for folder in run.iterations()})
        wanted = {sample_id, *(f"{kind}:{j}:{sample_id}" for kind in ("jglv", "edde") for j in iterations)}
        wanted |= {f"jglv:{label.rsplit('_', 1)[-1]}:{j.get('sample_id')}" for label, j in judgements}
        if row is not None and row.dialogue_id:
            wanted.add(row.dialogue_id)
        links = trace_links(run, wanted)
        return page_samples.sample_page(base, sample_id, data, row, probes, judgements, steps, children,
                                 set(index.rows), links)


def resolve_runs(paths: list[str | Path]) -> list[RunFolder]:
    """The run folders to show (labels made unique); a missing folder is a :class:`UserError`."""
    runs = [RunFolder.open(path) for path in paths]
    labels = [run.label for run in runs]
    return [run if labels.count(run.label) == 1 else RunFolder(run.path, str(run.path)) for run in runs]
