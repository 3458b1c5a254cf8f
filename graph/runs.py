"""Run folders as users see them: status, listing, lookup.

`runs/<id>/status.json` says what the run is doing (running, finished, interrupted, failed)
and how to resume it; the rest comes from `metrics.json` and `config.yaml`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import yaml

from lai.graph.layout import RunLayout
from lai.tools.errors import LaiError
from lai.tools.jsonl import write_json


def write_status(run_dir: Path, status: str, **extra: Any) -> None:
    old = read_json(RunLayout(run_dir).status)
    write_json(RunLayout(run_dir).status, {
        **old, "status": status, "pid": os.getpid(), "updated": time.time(),
        "started": old.get("started", time.time()),
        # when the current session began (a `lai run` or `lai resume`), for its running time
        "session_started": time.time() if status == "running" else old.get("session_started"),
        **extra})


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def status_of(run_dir: Path) -> str:
    """`running` only while its process lives: a run killed by -9 shows as `interrupted`;
    `not started` for a folder whose start never reached the first step."""
    status = read_json(RunLayout(run_dir).status)
    state = status.get("status", "unknown" if started(run_dir) else "not started")
    if state == "running" and not _alive(status.get("pid")):
        return "interrupted"
    return state


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def started(run_dir: Path) -> bool:
    """Whether the run reached its first step (a status, a checkpoint or metrics exist)."""
    layout = RunLayout(run_dir)
    return any(path.exists() for path in (layout.status, layout.state, layout.metrics))


def find_run(runs_dir: Path, name: str) -> Path:
    """A run by folder path, or by id under `runs_dir`.

    Raises:
        LaiError: no such run; a folder that is not a run (no config.yaml); a run that never
            started (nothing to show, report or resume).
    """
    candidates = (Path(name), runs_dir / name)
    for candidate in candidates:
        if RunLayout(candidate).config.exists():
            if not started(candidate):
                raise LaiError(f"run {candidate} has not started: it has a config but no status, "
                               f"checkpoint or metrics (its start failed before the first step, "
                               f"or is still preparing); start it again with `lai run`, or "
                               f"remove the folder")
            return candidate
    for candidate in candidates:
        if candidate.is_dir():
            raise LaiError(f"{candidate} is not a run folder: it has no config.yaml; give a run "
                           f"id or a run's folder (`lai runs --runs-dir DIR` lists them)")
    known = ", ".join(sorted(p.name for p in runs_dir.glob("*") if RunLayout(p).config.exists())[-8:])
    raise LaiError(f"no run {name!r} in {runs_dir}" + (f" (runs there: {known})" if known else "")
                   + "; give a run's folder, or the folder holding it with --runs-dir or $LAI_RUNS_DIR")


def summary(run_dir: Path) -> dict[str, Any]:
    """One row of `lai runs`."""
    metrics = read_json(RunLayout(run_dir).metrics)
    status = read_json(RunLayout(run_dir).status)
    config = yaml.safe_load((RunLayout(run_dir).config).read_text()) or {}
    history = metrics.get("history", [])
    started = status.get("started")
    return {
        "id": run_dir.name, "task": config.get("task", {}).get("name", "?"),
        "strategy": config.get("instruct", {}).get("strategy", "?"),
        "status": status_of(run_dir), "best_validation": metrics.get("best_validation"),
        "rounds": max(len(history) - 1, 0), "started": started,
        "minutes": metrics.get("wall_minutes") or _minutes(run_dir, status),
        "stop_reason": metrics.get("stop_reason"), "test": metrics.get("test", {}),
        "best_adapter": metrics.get("best_adapter"),
    }


def _minutes(run_dir: Path, status: dict) -> float | None:
    """Time so far: earlier sessions plus, while it runs, this one."""
    if not status.get("started"):
        return None
    running = status_of(run_dir) == "running"
    now = time.time() if running else status.get("updated", status["started"])
    session = max(now - status.get("session_started", status["started"]), 0.0) if running else 0.0
    return round((status.get("active_s", 0.0) + session) / 60, 1)


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    dirs = [p for p in runs_dir.glob("*") if RunLayout(p).config.exists()] if runs_dir.exists() else []
    return sorted((summary(p) for p in dirs), key=lambda r: r["started"] or 0)
