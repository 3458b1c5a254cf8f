"""MLflow tracking of a run (graph/tracking.py), against a local store: a finished run on the
fake target through the real `lai run`; TRL's curves logged by the training child's callback;
resume and kill -9 keep one MLflow run (with `lai show --follow` watching the run meanwhile)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("mlflow")

from lai.graph import follow as follow_module  # noqa: E402
from lai.graph.runs import status_of  # noqa: E402
from lai.graph.tracking import RUN_FILE, flatten, metric_name, round_metrics  # noqa: E402
from tests.graph.fake_cli import main as fake_lai  # noqa: E402
from tests.graph.fake_cli import run_args, seed_store  # noqa: E402

ROOT = Path(__file__).parents[2]


def mlflow_run(run_dir: Path):
    from mlflow import MlflowClient

    info = json.loads((run_dir / RUN_FILE).read_text())
    client = MlflowClient(info["tracking_uri"])
    return client, client.get_run(info["run_id"]), info


def traces_of(info: dict) -> list:
    import mlflow

    mlflow.set_tracking_uri(info["tracking_uri"])
    return mlflow.search_traces(locations=[info["experiment_id"]], run_id=info["run_id"],
                                return_type="list")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished 2-round fake run with tracking on (the default local store)."""
    runs = tmp_path_factory.mktemp("runs")
    seed_store(runs)
    assert fake_lai(run_args(runs, "tracked")) == 0
    return runs / "tracked"


def test_the_run_is_one_mlflow_run_with_params_tags_and_per_round_metrics(finished):
    client, run, info = mlflow_run(finished)
    assert info["tracking_uri"] == f"sqlite:///{finished.parent.resolve() / 'mlflow.db'}"
    assert run.info.status == "FINISHED" and run.info.run_name == "tracked"
    assert run.data.tags["task"] == "arith" and run.data.tags["strategy"] == "le"
    assert run.data.tags["role.analyst"] == "offline:arith"
    assert run.data.params["instruct.strategy"] == "le" and run.data.params["instruct.budget"] == "8"
    assert run.data.params["roles.default.model"] == "offline:arith"

    metrics = json.loads((finished / "metrics.json").read_text())
    history = client.get_metric_history(run.info.run_id, "validation")
    assert [(m.step, m.value) for m in history] == \
        [(r["iteration"], r["validation"]) for r in metrics["history"]]
    kept = client.get_metric_history(run.info.run_id, "kept")
    assert [(m.step, m.value) for m in kept] == [(1, 8), (2, 8)]
    calls = client.get_metric_history(run.info.run_id, "usage/analyst/calls")
    assert [(m.step, m.value) for m in calls] == [(1, 1), (2, 2)]  # cumulative
    assert run.data.metrics["test/best"] == metrics["test"]["best"] == 1.0
    assert run.data.metrics["validation_skill/div"] == 1.0  # learned by round 2


def test_every_node_is_a_trace_and_llm_calls_are_its_spans(finished):
    import sqlite3

    _, _, info = mlflow_run(finished)
    traces = traces_of(info)
    with sqlite3.connect(finished / "trace.sqlite") as db:
        nodes = db.execute("select count(*) from nodes where ended is not null").fetchone()[0]
        calls = db.execute("select role, messages, response from llm_calls order by id").fetchall()
    assert len(traces) == nodes == 18  # baseline, 2 rounds of 8 nodes, final test
    spans = [s for t in traces for s in t.data.spans if s.parent_id is not None]
    assert sorted(s.attributes["role"] for s in spans) == sorted(r for r, _, _ in calls)
    analyst = next(s for s in spans if s.attributes["role"] == "analyst")
    root = next(s for t in traces for s in t.data.spans
                if s.span_id == analyst.parent_id)
    assert root.name == "instruct" and analyst.span_type == "CHAT_MODEL"
    replies = {json.dumps(json.loads(m)): reply for role, m, reply in calls if role == "analyst"}
    assert replies[json.dumps(analyst.inputs["messages"])] == analyst.outputs  # prompt and reply
    for key in ("model", "input_tokens", "output_tokens", "latency_s", "cost_usd", "cached", "retries"):
        assert key in analyst.attributes
    assert analyst.attributes["model"] == "offline:arith"


def test_the_end_logs_the_report_and_the_best_adapter(finished):
    client, run, _ = mlflow_run(finished)
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.html", "metrics.json", "plan.json", "config.yaml", "usage.json"} <= names
    assert [a.path for a in client.list_artifacts(run.info.run_id, "best_adapter")] == \
        ["best_adapter/fake_adapter.json"]


def test_training_jobs_name_the_run_for_trls_curves(finished):
    _, run, info = mlflow_run(finished)
    for k in (1, 2):
        job = json.loads((finished / f"iter_00{k}" / "train_job.json").read_text())
        assert job["mlflow"] == {"tracking_uri": info["tracking_uri"], "run_id": run.info.run_id,
                                 "prefix": f"train_r{k}"}


def test_trls_logs_go_to_the_run_under_a_round_prefix(tmp_path):
    """The callback the training child adds (training/mlflow_log.py), fed trainer logs."""
    from types import SimpleNamespace

    from mlflow import MlflowClient

    from lai.training.mlflow_log import mlflow_callback

    seed_store(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("t")).info.run_id
    callback = mlflow_callback({"tracking_uri": uri, "run_id": run_id, "prefix": "train_r2"})
    for step, loss in ((5, 1.25), (10, 0.5)):
        state = SimpleNamespace(is_world_process_zero=True, global_step=step)
        callback.on_log(None, state, None, logs={"loss": loss, "learning_rate": 1e-4, "note": "x"})
    history = client.get_metric_history(run_id, "train_r2/loss")
    assert [(m.step, m.value) for m in history] == [(5, 1.25), (10, 0.5)]
    assert "train_r2/note" not in client.get_run(run_id).data.metrics


def test_tracking_disabled_writes_no_store(tmp_path):
    assert fake_lai(run_args(tmp_path, "untracked", "tracking.enabled=false")) == 0
    assert not (tmp_path / "untracked" / RUN_FILE).exists() and not (tmp_path / "mlflow.db").exists()
    assert (tmp_path / "untracked" / "metrics.json").exists()


def test_a_store_that_cannot_open_stops_the_start_with_one_message(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    uri = f"sqlite:///{tmp_path / 'a-file' / 'mlflow.db'}"  # under a file: cannot be created
    assert fake_lai(run_args(tmp_path, "bad", f"tracking.uri={uri}")) == 2
    out = capsys.readouterr().out
    assert "tracking.uri" in out and "tracking.enabled=false" in out and "Traceback" not in out
    assert not (tmp_path / "bad").exists()  # nothing ran: no half-written run folder


def test_a_resumed_run_whose_mlflow_run_is_gone_says_so(finished, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    info = json.loads((copy / RUN_FILE).read_text())
    (copy / RUN_FILE).write_text(json.dumps({**info, "run_id": "0" * 32}))
    (copy / "status.json").write_text(json.dumps({"status": "interrupted"}))
    assert fake_lai(["resume", str(copy), "--quiet"]) == 2
    out = capsys.readouterr().out
    assert RUN_FILE in out and "tracking.enabled=false" in out


def test_lai_ui_says_what_it_cannot_show(finished, tmp_path, capsys):
    assert fake_lai(["ui", "--runs-dir", str(tmp_path)]) == 2
    assert "no MLflow store" in capsys.readouterr().out
    untracked = tmp_path / "untracked"
    untracked.mkdir()
    for name in ("config.yaml", "status.json", "metrics.json"):
        (untracked / name).write_text((finished / name).read_text())
    assert fake_lai(["ui", "untracked", "--runs-dir", str(tmp_path)]) == 2
    assert "was not tracked" in capsys.readouterr().out
    remote = tmp_path / "remote"
    remote.mkdir()
    for name in ("config.yaml", "status.json"):
        (remote / name).write_text((finished / name).read_text())
    (remote / RUN_FILE).write_text(json.dumps({"tracking_uri": "http://mlflow.example:5000",
                                               "experiment_id": "3", "run_id": "abc"}))
    assert fake_lai(["ui", "remote", "--runs-dir", str(tmp_path)]) == 0  # starts nothing
    assert "http://mlflow.example:5000/#/experiments/3/runs/abc" in capsys.readouterr().out


def test_names_and_params_are_valid_for_mlflow():
    assert metric_name("rejected/duplicate (earlier)") == "rejected/duplicate _earlier_"
    params = flatten({"roles": {"prices": {"gpt-4o": {"input": 2.5}}, "judge": None}, "x": "y" * 7000})
    assert params == {"roles.prices.gpt-4o.input": "2.5", "roles.judge": "null", "x": "y" * 6000}
    row = {"iteration": 1, "validation": None, "kept": 3, "kept_as_best": False,
           "rejected": {"kept": 3, "rejected": 1, "over budget": 1}, "validation_by_skill": {"mul": 0.5}}
    assert round_metrics(row, {"analyst": {"calls": 2}}) == {
        "kept": 3, "kept_as_best": 0, "rejected/over budget": 1, "validation_skill/mul": 0.5,
        "usage/analyst/calls": 2, "usage/analyst/cached": 0, "usage/analyst/failed": 0,
        "usage/analyst/input_tokens": 0, "usage/analyst/output_tokens": 0, "usage/analyst/cost_usd": 0}


# --------------------------------------------------------------------------- in another process


def _start(runs: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "LAI_FAKE_DELAY_S": "0.05", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.graph.fake_cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(check, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_follow_a_run_in_progress_then_kill_9_and_resume_keeps_one_mlflow_run(tmp_path, monkeypatch):
    from rich.console import Console

    seed_store(tmp_path)
    run_dir = tmp_path / "killed"
    proc = _start(tmp_path, *run_args(tmp_path, "killed"))
    _wait_for(lambda: status_of(run_dir) == "running" or proc.poll() is not None)
    assert proc.poll() is None, proc.stdout.read()

    frames: list[str] = []
    real_render = follow_module.render

    def spy(path):  # what each redraw showed, as text
        group = real_render(path)
        text = Console(record=True, width=140, file=open(os.devnull, "w"))
        text.print(group)
        frames.append(text.export_text())
        return group

    monkeypatch.setattr(follow_module, "render", spy)

    def kill_in_round_1_mining():
        _wait_for(lambda: any("current node: mine (round 1)" in f and "evaluate mining" in f
                              for f in frames))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()  # reaped: a zombie's pid still answers, and the run would look alive

    killer = threading.Thread(target=kill_in_round_1_mining, daemon=True)
    killer.start()
    quiet = Console(file=open(os.devnull, "w"), force_terminal=True, width=140)
    assert follow_module.follow(quiet, run_dir, interval_s=0.2, max_wait_s=180) == "interrupted"
    killer.join(timeout=5)
    proc.wait()
    assert any("current node: baseline (baseline)" in f for f in frames)
    assert any("base" in f and "0.714" in f and "current node: mine (round 1)" in f for f in frames)
    assert "interrupted" in frames[-1]

    client, before, info = mlflow_run(run_dir)
    assert before.info.status == "RUNNING"  # killed: nobody ended it
    resumed = _start(tmp_path, "resume", str(run_dir), "--quiet")
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    runs = client.search_runs([info["experiment_id"]])
    assert [r.info.run_id for r in runs] == [before.info.run_id]  # one MLflow run, not two
    after = client.get_run(before.info.run_id)
    assert after.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(before.info.run_id, "validation")]
    assert steps == [0, 1, 2]
    mines = [t for t in traces_of(info) if t.data.spans[0].name == "mine"]
    assert len(mines) == 2  # round 1's mining finished once, after the resume
