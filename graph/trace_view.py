"""`lai trace`: what the agents did, from the run's trace store and round files."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from lai.graph.layout import RunLayout
from lai.tools.errors import LaiError
from lai.tools.jsonl import read_jsonl
from lai.tools.trace import TraceStore


def _store(run_dir: Path) -> TraceStore:
    path = RunLayout(run_dir).trace
    if not path.exists():
        raise LaiError(f"{run_dir} has no trace.sqlite (a run from before traces existed?)")
    return TraceStore(path)


def _where(filters: dict[str, object], errors_only: bool) -> tuple[str, tuple]:
    parts = [f"{k} = ?" for k, v in filters.items() if v is not None]
    params = tuple(v for v in filters.values() if v is not None)
    if errors_only:
        parts.append("error IS NOT NULL")
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


def print_trace(console: Console, run_dir: Path, *, iteration: int | None = None,
                role: str | None = None, node: str | None = None, errors_only: bool = False,
                full: bool = False) -> None:
    store = _store(run_dir)
    if role is None:
        where, params = _where({"iteration": iteration, "node": node}, errors_only)
        nodes = store.query(f"SELECT * FROM nodes{where} ORDER BY id", params)
        table = Table(title=f"node executions ({len(nodes)})")
        for col in ("#", "round", "node", "started", "seconds", "counts", "error"):
            table.add_column(col)
        for n in nodes:
            counts = json.loads(n["counts"] or "{}")
            brief = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in counts.items()
                              if isinstance(v, (int, float)) and k not in ("iteration", "started"))
            table.add_row(str(n["id"]), str(n["iteration"] if n["iteration"] is not None else "-"),
                          n["node"], time.strftime("%H:%M:%S", time.localtime(n["started"])),
                          "running/killed" if n["ended"] is None else f"{n['seconds']:.1f}",
                          brief[:80], f"[red]{n['error'][:60]}[/]" if n["error"] else "")
        console.print(table)
    where, params = _where({"iteration": iteration, "role": role, "node": node}, errors_only)
    calls = store.query(f"SELECT * FROM llm_calls{where} ORDER BY id", params)
    table = Table(title=f"LLM calls ({len(calls)})")
    for col in ("#", "round", "node", "role", "purpose", "ref", "tokens in/out", "s", "$", "cache", "retries", "error / reply"):
        table.add_column(col)
    for c in calls:
        note = f"[red]{c['error'][:50]}[/]" if c["error"] else (c["response"] or "").replace("\n", " ")[:50]
        table.add_row(str(c["id"]), str(c["iteration"]), c["node"] or "-", c["role"], c["purpose"],
                      (c["ref"] or "")[-24:], f"{c['input_tokens']}/{c['output_tokens']}",
                      f"{c['latency_s'] or 0:.1f}", f"{c['cost_usd'] or 0:.4f}",
                      "hit" if c["cached"] else "", str(c["retries"]), note)
    console.print(table)
    if full:
        for c in calls:
            messages = json.loads(c["messages"] or "[]")
            body = "\n\n".join(f"[bold]{m.get('role')}[/]: {m.get('content')}" for m in messages)
            console.print(Panel(body, title=f"call {c['id']} ({c['role']}, {c['purpose']}) messages", expand=False))
            console.print(Panel(c["response"] or f"[red]{c['error']}[/]", title=f"call {c['id']} reply", expand=False))


def _rows(path: Path) -> list[dict]:
    return read_jsonl(path) if path.exists() else []


def follow_error(console: Console, run_dir: Path, error_id: str, iteration: int | None = None) -> None:
    """One error's story: wrong answer → LEC neighbours → analysis → samples → kept or why not."""
    layout = RunLayout(run_dir)
    rounds = [layout.round(k) for k in ([iteration] if iteration is not None else layout.rounds())]
    found = [(r, e) for r in rounds for e in _rows(r.selected) if e["id"] == error_id]
    if not found:
        raise LaiError(f"error {error_id!r} was not selected in any round of {run_dir.name} "
                       "(ids are in iter_*/selected.jsonl)")
    for r, e in found:
        item = e["item"]
        console.rule(f"{error_id} in {r.dir.name}")
        console.print(Panel(f"{item['question']}\n\n[bold]gold:[/] {item.get('target')}\n"
                            f"[bold]target answered:[/] {e.get('extracted')}\n\n{e['response']}",
                            title="error", expand=False))
        for n in e.get("neighbours", []):
            console.print(Panel(n["item"]["question"], title=f"right neighbour (similarity {n.get('similarity')})",
                                expand=False))
        for a in _rows(r.analyses):
            if a["error_id"] == error_id:
                text = (f"[bold]diagnosis:[/] {a.get('diagnosis')}\n[bold]category:[/] {a.get('category')}\n"
                        f"[bold]skill:[/] {a.get('skill')}" if a["ok"] else
                        f"[red]no analysis[/]: {a.get('call_error') or (a.get('reply') or '')[:300]}")
                console.print(Panel(text, title="analysis", expand=False))
        kept = {s["id"] for s in _rows(r.kept)}
        dropped = {s["id"]: s["reject_reason"] for s in _rows(r.rejected)}
        table = Table(title="samples it produced")
        for col in ("id", "question", "answer", "fate"):
            table.add_column(col)
        for s in _rows(r.generated):
            if s.get("source_error") == error_id:
                fate = "[green]kept[/]" if s["id"] in kept else f"[yellow]{dropped.get(s['id'], 'not kept')}[/]"
                table.add_row(s["id"].split("/")[-1], s["question"][:70], str(s.get("target")), fate)
        for bad in _rows(r.generation_rejects):
            if bad.get("source_error") == error_id:
                table.add_row(str(bad.get("id", "-")).split("/")[-1], (bad.get("question") or bad.get("text") or "")[:70],
                              str(bad.get("target", "-")), f"[red]{bad['stage']}: {bad['reason'][:60]}[/]")
        console.print(table)
