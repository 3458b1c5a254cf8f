"""How fast this machine runs the loop's steps, for the plan's minutes.

Measured from every finished run (its `trace.sqlite` node times, its evaluation files and
training logs) and kept in `<run.cache_dir>/rates.json`, one entry per target model, dtype
and device, so the next plan on this machine uses this machine's speed. Until a run has
measured them, the plan uses `DEFAULT_RATES` and says so.

Rates are all-in (model loading, tokenizing and the training child's start included):
- `eval_base`, `eval_adapted`: seconds per item per `generation.max_new_tokens`, for the
  base model (which rambles to the token limit) and for a trained adapter (which stops at
  its answer);
- `train`: seconds per optimizer step per sample in the batch (`batch_size * grad_accum`);
- `calls`: seconds per instructor call of each role model, concurrency included.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from lai.graph.runs import read_json
from lai.tools.jsonl import write_json

DEFAULT_RATES = {
    "eval_base": 0.0103, "eval_adapted": 0.0066, "train": 1.68,
    "calls": {"offline:arith": 0.006}, "llm_call": 2.0,
    "source": "stated defaults: the default run on a 2-core CPU in fp32 (docs/results.md); "
              "replaced by this machine's own rates after its first finished run",
}
"""Measured on the development machine (`bench/results/default_run.json`, 93.8 min); an LLM
call: 8 s per call at concurrency 4, a guess until a run measures the endpoint."""
_EVALS = {"baseline": None, "mine": "eval_mining.jsonl", "validate": "eval_validation.jsonl",
          "final_test": "eval_test.jsonl"}


def device_key(cfg) -> str:
    """What the rates depend on: the target model, its dtype and the device."""
    import torch

    device = (f"cuda:{torch.cuda.get_device_name(0)}" if torch.cuda.is_available()
              else f"cpu:{os.cpu_count()}")
    return f"{cfg.target.model}|{cfg.target.dtype}|{device}"


def rates_path(cfg) -> Path:
    return Path(cfg.run.cache_dir) / "rates.json"


def load_rates(cfg) -> dict[str, Any]:
    """This machine's measured rates for the run's target, over the stated defaults."""
    saved = read_json(rates_path(cfg))
    measured = saved.get(device_key(cfg), {})
    calls = {**DEFAULT_RATES["calls"], **saved.get("calls", {})}
    rates = {**DEFAULT_RATES, **measured, "calls": calls}
    if measured:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(measured.get("measured", 0)))
        rates["source"] = f"measured on this machine by run {measured.get('run', '?')} ({when})"
    return rates


def save_rates(cfg, run_dir: Path) -> dict[str, Any]:
    """Measure a finished run's rates and keep them for the next plan; returns them."""
    measured = measure(run_dir, cfg)
    if not measured:
        return {}
    path = rates_path(cfg)
    saved = read_json(path)
    calls = {**saved.get("calls", {}), **measured.pop("calls", {})}
    entry = {**saved.get(device_key(cfg), {}), **measured, "measured": time.time(),
             "run": str(run_dir)}
    write_json(path, {**saved, device_key(cfg): entry, "calls": calls})
    return entry


def measure(run_dir: Path, cfg, upto: int | None = None) -> dict[str, Any]:
    """Rates from a run folder (see the module docstring); a kind not seen in it is left out.
    `upto`: only the baseline and rounds up to this one (bench/plan_accuracy.py's hold-out)."""
    nodes = {key: s for key, s in finished_nodes(run_dir).items()
             if upto is None or (key[0] != "final_test" and key[1] <= upto)}
    history = read_json(run_dir / "metrics.json").get("history", [])
    kept = {r["iteration"] for r in history if r.get("kept_as_best") and r["iteration"] > 0}
    best = read_json(run_dir / "metrics.json").get("best_iteration") or 0
    sums = {"eval_base": [0.0, 0.0], "eval_adapted": [0.0, 0.0], "train": [0.0, 0.0]}
    for (node, k), seconds in nodes.items():
        if node in _EVALS:
            items = _eval_items(run_dir, node, k, best)
            adapted = (node == "validate" or (node == "mine" and any(j < k for j in kept))
                       or (node == "final_test" and best > 0))
            key = "eval_adapted" if adapted else "eval_base"
            if items:
                sums[key][0] += seconds
                sums[key][1] += items * cfg.generation.max_new_tokens
        elif node == "train":
            steps = trained_steps(run_dir / f"iter_{k:03d}" / "train_log.jsonl")
            if steps:
                sums["train"][0] += seconds
                sums["train"][1] += steps * cfg.train.batch_size * cfg.train.grad_accum
    rates: dict[str, Any] = {key: round(s / n, 6) for key, (s, n) in sums.items() if n}
    calls = _call_rates(run_dir, nodes)
    if calls:
        rates["calls"] = calls
    return rates


def finished_nodes(run_dir: Path) -> dict[tuple[str, int], float]:
    """(node, round) → seconds of its last finished, error-free execution (baseline: round 0)."""
    out = {}
    for node, iteration, seconds in query_trace(run_dir, "SELECT node, iteration, seconds FROM nodes "
                                           "WHERE ended IS NOT NULL AND error IS NULL ORDER BY id"):
        out[(node, 0 if node == "baseline" else iteration or 0)] = seconds
    return out


def query_trace(run_dir: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read the run's trace (read-only: the run may be going on in another process)."""
    path = run_dir / "trace.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # created but empty
        return []
    finally:
        db.close()


def _eval_items(run_dir: Path, node: str, k: int, best: int) -> int:
    if node == "baseline":
        d = run_dir / "iter_000"
        return count_lines(d / "eval_validation.jsonl") + count_lines(d / "eval_test.jsonl")
    folder = run_dir / f"iter_{(best if node == 'final_test' else k):03d}"
    return count_lines(folder / _EVALS[node])


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    except FileNotFoundError:
        return 0


def trained_steps(log_path: Path) -> int:
    try:
        lines = log_path.read_text().splitlines()
    except FileNotFoundError:
        return 0
    done = [json.loads(line) for line in lines if '"done"' in line]
    return int(done[-1].get("steps") or 0) if done else 0


def _call_rates(run_dir: Path, nodes: dict[tuple[str, int], float]) -> dict[str, float]:
    """Seconds per call of each role model: the instruct and generate nodes' time over their
    calls (a node that called two models is left out)."""
    per_model: dict[str, list[float]] = {}
    for (node, k), seconds in nodes.items():
        if node not in ("instruct", "generate"):
            continue
        rows = query_trace(run_dir, "SELECT model, count(*) FROM llm_calls WHERE node = ? AND "
                      "iteration = ? AND cached = 0 GROUP BY model", (node, k))
        if len(rows) == 1 and rows[0][1]:
            total = per_model.setdefault(rows[0][0], [0.0, 0.0])
            total[0] += seconds
            total[1] += rows[0][1]
    return {model: round(s / n, 4) for model, (s, n) in per_model.items() if n}
