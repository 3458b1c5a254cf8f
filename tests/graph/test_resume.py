"""Kill -9 a run during evaluation, instructor calls, generation and training; resume it each
time; the result must match an uninterrupted run with the same seed: identical sample files,
same accuracies, no LLM call repeated beyond the one in flight when the run died.

The instructor is a real HTTP endpoint (the scripted server answering as the offline
instructor would, slowly enough to be killed mid-stage), so the response cache is exercised.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lai.agents.offline_instructor import OfflineArithInstructor
from tests.openai_server import OpenAIServer, Scripted

TASK = {"n_mining": 24, "n_validation": 8, "n_test": 8}
TINY = [
    *(f"task.options.{k}={v}" for k, v in TASK.items()),
    "generation.max_new_tokens=48", "generation.batch_size=8",
    "instruct.max_errors=4", "instruct.budget=12",
    "train.epochs=2", "train.min_steps=0", "train.batch_size=4", "train.max_length=192", "train.checkpoint_every=1",
    "train.log_every=1", "loop.max_iterations=1",
    "roles.default.model=openai:offline-over-http", "roles.default.api_key_env=LAI_TEST_KEY",
    "roles.default.concurrency=1", "roles.default.max_retries=0",
]
SAMPLE_FILES = ("selected.jsonl", "generated.jsonl", "kept.jsonl", "rejected.jsonl",
                "generation_rejects.jsonl", "train.jsonl")


def offline_over_http():
    instructor = OfflineArithInstructor(task_options=TASK)

    def script(body):
        prompt = "\n\n".join(str(m.get("content", "")) for m in body["messages"])
        return Scripted(instructor.reply(prompt), delay_s=0.4)

    return script


def start(args, runs_dir, run_id, base_url, cache):
    cmd = [sys.executable, "-m", "lai.graph.cli", *args, "--runs-dir", str(runs_dir), "--quiet"]
    if args[0] == "run":
        cmd += ["--run-id", run_id, *sum((["--set", s] for s in TINY), []),
                "--set", f"roles.default.base_url={base_url}", "--set", f"roles.cache_path={cache}"]
    env = {**os.environ, "LAI_TEST_KEY": "sk-dummy-resume-test"}
    return subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def llm_calls(run_dir: Path, node: str) -> int:
    try:
        with sqlite3.connect(run_dir / "trace.sqlite", timeout=5) as db:
            return db.execute("select count(*) from llm_calls where node = ?", (node,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def node_running(run_dir: Path, node: str) -> bool:
    try:
        with sqlite3.connect(run_dir / "trace.sqlite", timeout=5) as db:
            return db.execute("select count(*) from nodes where node = ? and ended is null",
                              (node,)).fetchone()[0] > 0
    except sqlite3.OperationalError:
        return False


def trained_steps(run_dir: Path) -> int:
    log = run_dir / "iter_001" / "train_log.jsonl"
    steps = [json.loads(line).get("step", 0) for line in log.read_text().splitlines()] if log.exists() else []
    return max(steps, default=0)


def kill_when(proc, ready, sig=signal.SIGKILL, timeout=900):
    """Once `ready()` holds: SIGKILL the run's whole process group, or send `sig` (a clean
    stop) to the run itself. Fails if the run ends first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"run ended before the kill point:\n{proc.stdout.read()[-3000:]}")
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.05)
    if sig == signal.SIGKILL:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.send_signal(sig)
    proc.wait()


@pytest.mark.slow
def test_kill_anywhere_and_resume_matches_an_uninterrupted_run(tmp_path):
    runs = tmp_path / "runs"
    with OpenAIServer(offline_over_http()) as server:
        straight = start(["run"], runs, "straight", server.base_url, tmp_path / "cache_a.sqlite")
        assert straight.wait() == 0, straight.stdout.read()[-3000:]
        calls_straight = len(server.calls)

        run_dir = runs / "killed"
        kill_points = [  # the first one is a clean stop (SIGTERM), the others kill -9
            ("evaluation (mine)", lambda: node_running(run_dir, "mine")),
            ("instructor calls", lambda: llm_calls(run_dir, "instruct") >= 2),
            ("generation", lambda: llm_calls(run_dir, "generate") >= 2),
            ("training", lambda: trained_steps(run_dir) >= 2),
        ]
        proc = start(["run"], runs, "killed", server.base_url, tmp_path / "cache_b.sqlite")
        for k, (_, ready) in enumerate(kill_points):
            kill_when(proc, ready, signal.SIGTERM if k == 0 else signal.SIGKILL)
            if k == 0:
                out = proc.stdout.read()
                assert proc.returncode == 130 and "lai resume killed" in out, out[-2000:]
            status = subprocess.run([sys.executable, "-m", "lai.graph.cli", "runs", "--runs-dir", str(runs)],
                                    capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}).stdout
            assert "interrupted" in status, status
            proc = start(["resume", "killed"], runs, "killed", server.base_url, None)
        assert proc.wait() == 0, proc.stdout.read()[-3000:]
        calls_killed = len(server.calls) - calls_straight

    a, b = runs / "straight", run_dir
    for name in SAMPLE_FILES:
        assert (a / "iter_001" / name).read_bytes() == (b / "iter_001" / name).read_bytes(), name
    strip = lambda rows: [{k: v for k, v in r.items() if k != "cached"} for r in rows]  # noqa: E731
    analyses = [strip(json.loads(line) for line in (d / "iter_001" / "analyses.jsonl").open()) for d in (a, b)]
    assert analyses[0] == analyses[1]
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert [r["validation"] for r in ma["history"]] == [r["validation"] for r in mb["history"]]
    assert ma["test"] == mb["test"]
    summary = json.loads((b / "iter_001" / "adapter" / "train_summary.json").read_text())
    assert summary["resumed_from_checkpoint"]  # training went on from its checkpoint
    # at most the one call in flight at each of the two kills during LLM stages is repeated
    assert calls_straight <= calls_killed <= calls_straight + 2
    assert json.loads((b / "status.json").read_text())["status"] == "finished"
    for path in b.rglob("*"):  # the dummy key never reaches the run directory
        if path.is_file():
            assert b"sk-dummy-resume-test" not in path.read_bytes(), path
