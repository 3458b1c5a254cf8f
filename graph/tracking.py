"""Experiment tracking in MLflow: one MLflow run per loop run, as practitioners browse them.

- the resolved config as params, tags for task, strategy, target and role models;
- per-round metrics (step = round): validation, mining, errors, kept, per-skill accuracy,
  instructor tokens and cost per role; the test scores at the end;
- one MLflow trace per graph node, its LLM calls as child spans (role, prompt, reply, tokens,
  latency, cost, cache hit, retries), built from the run's own `trace.sqlite`;
- the training child logs TRL's curves to the same run (`training/mlflow_log.py`);
- the best adapter, the report, metrics and plan as artifacts when the run ends.

The run's id is kept in `<run>/mlflow.json`, so `lai resume` continues the same MLflow run.
The LangChain autologger is not used: the loop makes its LLM calls on a background event
loop, where it would file them as traces of their own outside the node that made them, and
it never sees cache hits, retries or cost. Tracking failures during a run are reported once
and never stop the loop; `tracking.enabled: false` turns it all off.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lai.tools.errors import LaiError
from lai.graph.runs import read_json
from lai.tools.jsonl import write_json

RUN_FILE = "mlflow.json"
"""In the run folder: the tracking URI, experiment id and run id of the run's MLflow run."""
STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
ROUND_METRICS = ("validation", "mining", "errors", "selected", "analysed", "analysis_failed",
                 "requested", "generated", "repaired", "kept", "train_samples", "replay",
                 "train_loss", "p_better", "minutes")
_BAD_CHARS = re.compile(r"[^\w\-. :/]")


def default_uri(runs_dir: Path) -> str:
    """The local store of a runs folder: one SQLite file, so the UI compares its runs."""
    return f"sqlite:///{Path(runs_dir).resolve() / 'mlflow.db'}"


def tracking_uri(cfg) -> str:
    return cfg.tracking.uri or default_uri(cfg.run.runs_dir)


def run_page(base_url: str, info: dict) -> str:
    """The MLflow UI's page of a run (`info` as in `mlflow.json`)."""
    return f"{base_url.rstrip('/')}/#/experiments/{info['experiment_id']}/runs/{info['run_id']}"


def _quiet_mlflow():
    """Import mlflow without its INFO lines (database migrations, queue flushes) in the CLI."""
    import mlflow  # configures its own logger on import: quieten it after

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return mlflow


@dataclass
class Tracker:
    uri: str
    experiment_id: str
    run_id: str
    client: Any
    warned: list[str] = field(default_factory=list)
    """Errors met while logging (the first is printed; the run goes on)."""

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, cfg, run_dir: Path) -> "Tracker | None":
        """The run's MLflow run: the one in `<run>/mlflow.json` (a resumed run), else a new one.
        None when `tracking.enabled` is false.

        Raises:
            LaiError: the store cannot be opened, or a resumed run's MLflow run is gone.
        """
        if not cfg.tracking.enabled:
            return None
        mlflow = _quiet_mlflow()
        from mlflow import MlflowClient

        saved = read_json(run_dir / RUN_FILE)
        uri = saved.get("tracking_uri") or tracking_uri(cfg)
        try:
            mlflow.set_tracking_uri(uri)  # traces go to the global URI
            client = MlflowClient(uri)
            if saved:
                return cls._reopen(client, uri, saved, run_dir)
            experiment_id = cls._experiment(client, cfg, uri)
            run_id = cls._find_or_create(client, experiment_id, cfg, run_dir)
        except LaiError:
            raise
        except Exception as e:  # noqa: BLE001 - an unreachable server, a bad URI, a locked DB
            raise LaiError(f"tracking.uri {uri!r}: cannot open the MLflow store ({type(e).__name__}: "
                           f"{str(e)[:300]}); fix it or turn tracking off with "
                           f"--set tracking.enabled=false") from None
        write_json(run_dir / RUN_FILE, {"tracking_uri": uri, "experiment_id": experiment_id,
                                        "run_id": run_id})
        return cls(uri, experiment_id, run_id, client)

    @classmethod
    def _reopen(cls, client, uri: str, saved: dict, run_dir: Path) -> "Tracker":
        from mlflow.exceptions import MlflowException

        try:
            run = client.get_run(saved["run_id"])
        except (MlflowException, KeyError):
            raise LaiError(f"{run_dir / RUN_FILE}: MLflow run {saved.get('run_id')!r} is not in "
                           f"{uri} any more; resume with --set tracking.enabled=false, or put the "
                           f"store back") from None
        client.update_run(run.info.run_id, status="RUNNING")
        return cls(uri, run.info.experiment_id, run.info.run_id, client)

    @staticmethod
    def _experiment(client, cfg, uri: str) -> str:
        found = client.get_experiment_by_name(cfg.tracking.experiment)
        if found is not None:
            return found.experiment_id
        # a local store keeps its artifacts beside it, not in the current folder (./mlruns)
        where = (str(Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts")
                 if uri.startswith("sqlite:///") else None)
        return client.create_experiment(cfg.tracking.experiment, artifact_location=where)

    @staticmethod
    def _find_or_create(client, experiment_id: str, cfg, run_dir: Path) -> str:
        """A run killed between creating its MLflow run and saving the id finds it again by tag."""
        from mlflow.entities import Param

        folder = str(run_dir.resolve())
        found = client.search_runs([experiment_id], filter_string=f"tags.`lai.run_dir` = '{folder}'",
                                   max_results=1)
        if found:
            return found[0].info.run_id
        roles = {role: (cfg.roles.resolve(role).model or "") for role in ("analyst", "generator")}
        tags = {"task": cfg.task.name, "strategy": cfg.instruct.strategy, "target": cfg.target.model,
                **{f"role.{r}": m for r, m in roles.items()}, "lai.run_dir": folder}
        if cfg.roles.judge is not None:
            tags["role.judge"] = cfg.roles.resolve("judge").model or ""
        run = client.create_run(experiment_id, run_name=run_dir.name, tags=tags)
        params = [Param(k, v) for k, v in flatten(cfg.model_dump(mode="json")).items()]
        for i in range(0, len(params), 100):
            client.log_batch(run.info.run_id, params=params[i:i + 100])
        return run.info.run_id

    # ------------------------------------------------------------------ during the run

    def node_finished(self, ctx, node: str, iteration: int | None, started: float,
                      update: dict | None, error: str | None = None) -> None:
        """After each node: its trace, and the metrics it produced (never raises)."""
        self._guard(self._trace_node, ctx, node, iteration, started, update, error)
        if update and not error:
            self._guard(self._log_node_metrics, ctx, node, update)

    def training_job(self, iteration: int) -> dict:
        """What the training child needs to log TRL's curves into this run (a job key)."""
        return {"mlflow": {"tracking_uri": self.uri, "run_id": self.run_id,
                           "prefix": f"train_r{iteration}"}}

    def _log_node_metrics(self, ctx, node: str, update: dict) -> None:
        if node in ("baseline", "decide") and update.get("history"):
            row = update["history"][-1]
            usage = ctx.ledger.snapshot()["roles"] if ctx.ledger else {}
            self.log_metrics(round_metrics(row, usage), step=row["iteration"])
        if node == "final_test" and update.get("test"):
            self.log_metrics(test_metrics(update["test"]), step=0)

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(metric_name(k), float(v), now, step) for k, v in values.items()]
        for i in range(0, len(metrics), 500):
            self.client.log_batch(self.run_id, metrics=metrics[i:i + 500])

    def _trace_node(self, ctx, node: str, iteration: int | None, started: float,
                    update: dict | None, error: str | None) -> None:
        import mlflow
        from mlflow.entities import SpanType

        ended = time.time()
        round_ = {"baseline": 0, "final_test": "final"}.get(node, iteration)
        root = mlflow.start_span_no_context(
            node, span_type=SpanType.CHAIN, inputs={"node": node, "round": round_},
            attributes={"node": node, "round": round_}, experiment_id=self.experiment_id,
            start_time_ns=int(started * 1e9), tags={"lai.node": node, "lai.round": str(round_)},
            metadata={"mlflow.sourceRun": self.run_id})
        calls = _llm_calls(ctx.trace, node, iteration, started) if ctx.trace else []
        for call in calls:
            _call_span(mlflow, root, call)
        if error:
            root.record_exception(error)
        root.end(outputs=_outputs(update), end_time_ns=int(ended * 1e9),
                 attributes={"seconds": round(ended - started, 3), "llm_calls": len(calls)})
        mlflow.flush_trace_async_logging()  # a killed run keeps the traces of its finished nodes

    # ------------------------------------------------------------------ the end

    def finish(self, run_dir: Path, status: str) -> None:
        """Artifacts (report, metrics, plan, config, best adapter) and the run's end status."""
        if status == "finished":
            self._guard(self._log_artifacts, run_dir)
        self._guard(self.client.set_terminated, self.run_id, STATUS.get(status, "FAILED"))

    def _log_artifacts(self, run_dir: Path) -> None:
        from lai.graph.report import write_report

        self._guard(write_report, run_dir)
        for name in ("report.html", "metrics.json", "plan.json", "config.yaml", "usage.json"):
            if (run_dir / name).exists():
                self.client.log_artifact(self.run_id, str(run_dir / name))
        best = read_json(run_dir / "metrics.json").get("best_adapter")
        if best and Path(best).is_dir():
            self.client.log_artifacts(self.run_id, best, artifact_path="best_adapter")

    def _guard(self, fn, *args) -> None:
        """Tracking is a view of the run: an error in it is reported once, never fatal."""
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - see above
            self.warned.append(f"{type(e).__name__}: {e}")
            if len(self.warned) == 1:
                from rich.console import Console
                from rich.markup import escape

                Console(stderr=True).print(f"[yellow]MLflow tracking failed[/] ({escape(self.warned[0][:300])});"
                                           f" the run goes on, later tracking errors are not shown")


# ---------------------------------------------------------------------- pure helpers


def flatten(data: dict, prefix: str = "") -> dict[str, str]:
    """Nested config → `section.key` → text (MLflow params are strings of at most 6000)."""
    out: dict[str, str] = {}
    for key, value in data.items():
        name = metric_name(f"{prefix}{key}")
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = (value if isinstance(value, str) else json.dumps(value))[:6000]
    return out


def metric_name(name: str) -> str:
    """MLflow accepts letters, digits and `_-. :/` in metric and param names."""
    return _BAD_CHARS.sub("_", name)


def round_metrics(row: dict, usage: dict[str, dict]) -> dict[str, float]:
    """A metrics.json history row (and the ledger so far) as MLflow metrics."""
    out = {k: row[k] for k in ROUND_METRICS if isinstance(row.get(k), (int, float))}
    if "kept_as_best" in row:
        out["kept_as_best"] = int(bool(row["kept_as_best"]))
    for group, prefix in (("validation_by_skill", "validation_skill"), ("kept_by_skill", "kept_skill"),
                          ("validation_by_task", "validation_task")):
        out.update({f"{prefix}/{k}": v for k, v in (row.get(group) or {}).items()
                    if isinstance(v, (int, float))})
    rejected = row.get("rejected") or {}
    out.update({f"rejected/{k}": v for k, v in rejected.items()
                if k not in ("kept", "rejected") and isinstance(v, (int, float))})
    for role, u in usage.items():
        out.update({f"usage/{role}/{k}": u.get(k, 0) for k in
                    ("calls", "cached", "failed", "input_tokens", "output_tokens", "cost_usd")})
    return out


def test_metrics(test: dict) -> dict[str, float]:
    out = {f"test/{k}": v for k, v in test.items() if isinstance(v, (int, float))}
    for which in ("baseline", "best"):
        for skill, v in (test.get(f"{which}_by_skill") or {}).items():
            if isinstance(v, dict) and isinstance(v.get("accuracy"), (int, float)):
                out[f"test_skill_{which}/{skill}"] = v["accuracy"]
    return out


def _llm_calls(trace, node: str, iteration: int | None, started: float) -> list[dict]:
    rows = trace.query("SELECT * FROM llm_calls WHERE node = ? AND iteration IS ? AND time >= ? "
                       "ORDER BY id", (node, iteration, started - 1))
    return [dict(r) for r in rows]


def _call_span(mlflow, root, call: dict) -> None:
    from mlflow.entities import SpanType
    from mlflow.tracing.constant import SpanAttributeKey

    end = call["time"]
    start = end - (call.get("latency_s") or 0.0)
    tokens = {"input_tokens": call["input_tokens"] or 0, "output_tokens": call["output_tokens"] or 0}
    tokens["total_tokens"] = tokens["input_tokens"] + tokens["output_tokens"]
    span = mlflow.start_span_no_context(
        f"{call['role']} {call['purpose'] or 'call'}".strip(), span_type=SpanType.CHAT_MODEL,
        parent_span=root, inputs={"messages": json.loads(call["messages"] or "[]")},
        start_time_ns=int(start * 1e9),
        attributes={k: call[k] for k in ("role", "model", "purpose", "ref", "node", "iteration",
                                         "input_tokens", "output_tokens", "latency_s", "cost_usd",
                                         "retries", "error")}
        | {"cached": bool(call["cached"]), SpanAttributeKey.CHAT_USAGE: tokens,
           SpanAttributeKey.MODEL: call["model"] or "",
           SpanAttributeKey.LLM_COST: {"total_cost": call["cost_usd"] or 0.0}})
    if call.get("error"):
        span.record_exception(call["error"])
    span.end(outputs=call["response"], end_time_ns=int(end * 1e9))


def _outputs(update: dict | None) -> Any:
    """A node's result for its trace: the round's row so far, or the keys it changed."""
    if not update:
        return {}
    if "current" in update:
        return {k: v for k, v in update["current"].items() if k != "started"}
    if update.get("history"):
        return update["history"][-1]
    return {k: v for k, v in update.items() if isinstance(v, (int, float, str, dict, type(None)))}
