"""The MLflow UI shows a finished run: `lai ui RUN` (an `mlflow server`) on a free local port, the run's page loaded in headless Chromium (Debian's, driven by playwright): its
metrics, and a node's trace with its LLM call as a span, prompt and reply included.
Screenshots go to docs/ (mlflow_run.png, mlflow_trace.png). Skipped where Chromium or
playwright is missing; slow (about a minute: an MLflow server and a browser on 2 cores)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("mlflow")
sync_api = pytest.importorskip("playwright.sync_api")

from lai.graph.tracking import RUN_FILE, run_page  # noqa: E402
from tests.graph.fake_cli import main as fake_lai  # noqa: E402
from tests.graph.fake_cli import run_args, seed_store  # noqa: E402

DOCS = Path(__file__).parents[2] / "docs"
CHROMIUM = next((shutil.which(c) for c in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(c)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(run_dir: Path, port: int, log: Path) -> subprocess.Popen:
    """`lai ui RUN` (an `mlflow server` in the foreground); returns once it answers /health."""
    proc = subprocess.Popen([sys.executable, "-m", "lai.graph.cli", "ui", str(run_dir), "--runs-dir",
                             str(run_dir.parent), "--port", str(port)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return proc
        except OSError:
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install -y chromium)")
def test_the_mlflow_ui_shows_the_runs_metrics_and_a_trace_with_its_spans(tmp_path):
    seed_store(tmp_path)
    assert fake_lai(run_args(tmp_path, "ui-run")) == 0
    info = json.loads((tmp_path / "ui-run" / RUN_FILE).read_text())
    port = _free_port()
    server = _serve(tmp_path / "ui-run", port, tmp_path / "server.log")
    page_url = run_page(f"http://127.0.0.1:{port}", info)
    assert page_url in (tmp_path / "server.log").read_text().replace("\n", "")  # lai ui prints it
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(page_url)
            page.get_by_text("Metrics (", exact=False).wait_for(timeout=120_000)
            _close_assistant(page)
            body = page.inner_text("body")
            assert "ui-run" in body and "Finished" in body
            assert "strategy" in body and "offline:arith" in body  # tags
            page.get_by_placeholder("Search metrics").fill("test/best")
            row = page.get_by_role("row").filter(has_text="test/best")
            row.first.wait_for(timeout=30_000)
            assert row.first.inner_text().split()[-1] == "1"  # the fake run's best test accuracy
            page.screenshot(path=str(DOCS / "mlflow_run.png"))

            page.goto(page_url + "/traces")
            page.get_by_text('"node": "instruct"').first.click(timeout=60_000)
            page.get_by_text("analyst analyse").first.click(timeout=30_000)
            page.get_by_text("You are an experienced mathematics teacher", exact=False).first.wait_for(
                timeout=30_000)  # the analyst's prompt, in the span's inputs
            spans = page.inner_text("body")
            assert "instruct" in spans and "analyst analyse" in spans and "Diagnosis" in spans
            page.screenshot(path=str(DOCS / "mlflow_trace.png"))
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C: lai ui and its mlflow server
        server.wait(timeout=60)
    assert (DOCS / "mlflow_run.png").stat().st_size > 20_000


def _close_assistant(page) -> None:
    """The UI opens an assistant side panel; shut it so the screenshots show the run."""
    close = page.get_by_role("button", name="Close")
    if close.count():
        close.first.click()
