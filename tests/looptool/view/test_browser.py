"""The run browser in a real browser: Debian's ``chromium`` (headless ``--dump-dom`` and
``--screenshot``) walks ``looptool view`` on a scripted run from the overview to a relabeled
sample and its judge trace. Screenshots are kept in ``build/test-artifacts/view/``.

``scripts/setup.sh browser`` installs chromium (apt, as root); without it the test is
skipped with the reason."""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.looptool.view.scripted_run import build_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[3] / "build" / "test-artifacts" / "view"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh browser installs "
                                                "Debian's chromium with apt when run as root)"),
]


class Browser:
    """Headless chromium, one process per page; nothing but the local server is reachable."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile

    def _run(self, *args: str) -> str:
        assert CHROMIUM is not None
        command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={self.profile}", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def dom(self, url: str) -> str:
        return self._run("--dump-dom", url)

    def screenshot(self, url: str, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        target = ARTIFACTS / f"{name}.png"
        self._run(f"--screenshot={target}", "--window-size=1280,1600", url)
        assert target.stat().st_size > 10_000, target
        return target


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``looptool view`` in its own process on a free port; stopped with Ctrl-C (SIGINT)."""
    run = build_run(tmp_path / "run")
    log_path = tmp_path / "view-stderr.log"  # a file, not a pipe nobody reads: a full pipe would block the server
    with log_path.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "looptool.cli", "view", str(run)],
                                   stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   env={**os.environ, "NO_COLOR": "1"})
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert found, line + log_path.read_text(encoding="utf-8")
    try:
        yield found.group(0).rstrip("/")
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
        assert code == 0, log_path.read_text(encoding="utf-8")[-3000:]


def _href(dom: str, pattern: str) -> str:
    links = [html.unescape(href) for href in re.findall(r'href="([^"]+)"', dom)]
    matching = [href for href in links if re.search(pattern, href)]
    assert matching, f"no link matching {pattern!r} among {links}"
    return matching[0]


def test_overview_to_relabeled_sample_to_its_trace(served: str, tmp_path: Path) -> None:
    browser = Browser(tmp_path / "profile")
    started = time.monotonic()
    overview = browser.dom(served + "/")  # redirected to the only run
    assert "Iterations x stages" in overview and "<svg" in overview
    browser.screenshot(served + "/run/0/", "1-overview")

    composition_url = served + _href(overview, r"/composition$")
    composition = browser.dom(composition_url)
    browser.screenshot(composition_url, "2-composition")
    samples_url = served + _href(composition, r"origin=relabeled")
    samples = browser.dom(samples_url)
    assert "1 of " in samples

    sample_url = served + _href(samples, r"/sample/s3~lr1$")
    sample = browser.dom(sample_url)
    browser.screenshot(sample_url, "3-relabeled-sample")
    text = re.sub(r"<[^>]+>", " ", sample)
    assert "LABEL_WRONG" in text and "Old label" in text and "Lineage" in text
    assert _href(sample, r"/sample/s3$")  # parent seed
    assert "relabeled_as" in text and _href(sample, r"/sample/s3~lr1$")
    assert "<script>alert" not in sample and "&lt;script&gt;alert" in sample  # model text stays text

    trace_url = served + _href(sample, r"/trace/")
    trace = browser.dom(trace_url)
    browser.screenshot(trace_url, "4-judge-trace")
    text = re.sub(r"<[^>]+>", " ", trace)
    assert "Judge this dialogue" in text  # the dialogue the judge saw
    assert "verdict" in text and "2 of 2 judges: the label is wrong" in text
    assert "role=judge" in text and "tokens 120→30" in text
    assert _href(trace, r"/sample/s3$")
    assert time.monotonic() - started < 120
