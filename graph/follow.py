"""`lai show RUN --follow`: a live view of a run going on in another process.

It reads only the run folder (`status.json`, `state.sqlite`, `metrics.json`, `trace.sqlite`,
`progress.json`, `plan.json`), so it works from a second terminal or over ssh, and never disturbs
the run.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from lai.graph.rates import query_trace
from lai.graph.runs import read_json, status_of

PROGRESS_FILE = "progress.json"


def current_node(run_dir: Path) -> dict | None:
    """The node running now (started, not ended), with its round and start time."""
    rows = query_trace(run_dir, "SELECT node, iteration, started, counts FROM nodes "
                           "WHERE ended IS NULL ORDER BY id DESC LIMIT 1")
    if not rows:
        return None
    node, iteration, started, _ = rows[0]
    return {"node": node, "round": 0 if node == "baseline" else iteration, "started": started}


def checkpoint_state(run_dir: Path) -> dict:
    """The loop's state at its last checkpoint (`state.sqlite`, read-only): the finished rounds
    and the round in progress, which `metrics.json` only gets once the round is decided."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    path = run_dir / "state.sqlite"
    if not path.exists():
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10, check_same_thread=False)
    try:
        saved = SqliteSaver(conn).get_tuple({"configurable": {"thread_id": run_dir.name}})
    except sqlite3.Error:  # not written yet
        return {}
    finally:
        conn.close()
    return dict(saved.checkpoint.get("channel_values", {})) if saved else {}


def render(run_dir: Path) -> Group:
    """One frame: status, the round table (the round in progress last), the current node and
    its progress bar's state, and the plan's minutes beside the time so far."""
    from lai.graph.cli import results_table

    status = status_of(run_dir)
    info = read_json(run_dir / "status.json")
    state = checkpoint_state(run_dir)
    history = state.get("history") or read_json(run_dir / "metrics.json").get("history", [])
    parts = [Text.from_markup(f"[bold]{escape(run_dir.name)}[/]: {status}"
                              + (f", {_clock(time.time() - info['session_started'])} this session"
                                 if status == "running" and info.get("session_started") else ""))]
    rows = list(history)
    partial = state.get("current") if status == "running" else None
    if partial and partial.get("iteration") not in {r.get("iteration") for r in rows}:
        rows.append(partial)
    if rows:
        parts.append(results_table(rows))
    node = current_node(run_dir) if status == "running" else None
    if node:
        where = "baseline" if node["round"] == 0 else f"round {node['round']}"
        parts.append(Text(f"current node: {node['node']} ({where}), "
                          f"{_clock(time.time() - node['started'])}"))
        bar = read_json(run_dir / PROGRESS_FILE)
        if bar and bar.get("started", 0) >= node["started"] - 1:
            parts.append(Text(f"  {bar['label']}: {_fraction(bar)}" + (f"  {bar['note']}" if bar.get("note") else "")))
    plan = read_json(run_dir / "plan.json")
    if plan.get("total"):
        parts.append(Text(f"plan: {plan['total']['minutes']:.1f} min in all"))
    if status in ("failed", "interrupted"):
        parts.append(Text(f"{status}: {info.get('error') or info.get('reason') or ''}".rstrip(": ")))
    return Group(*parts)


def follow(console: Console, run_dir: Path, interval_s: float = 1.0,
           max_wait_s: float | None = None) -> str:
    """Redraw `render(run_dir)` every `interval_s` until the run is no longer running (or
    `max_wait_s` passed); returns its status then. Ctrl-C leaves the view, not the run."""
    deadline = time.monotonic() + max_wait_s if max_wait_s else None
    status = status_of(run_dir)
    with Live(render(run_dir), console=console, refresh_per_second=4, transient=False) as live:
        try:
            while status in ("running", "unknown") and not (deadline and time.monotonic() > deadline):
                time.sleep(interval_s)
                status = status_of(run_dir)
                live.update(render(run_dir))
        except KeyboardInterrupt:
            pass
    return status


def _fraction(bar: dict) -> str:
    done, total = bar.get("done", 0), bar.get("total") or 0
    pct = f" ({100 * done / total:.0f}%)" if total else ""
    return f"{done:g}/{total}{pct}"


def _clock(seconds: float) -> str:
    minutes, s = divmod(int(max(seconds, 0)), 60)
    return f"{minutes}:{s:02d}"
