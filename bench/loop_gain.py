"""Does error-targeted data beat random data? Baseline vs final test accuracy of the default
loop for LE, LEC and a same-size random control, over several seeds.

Each run is a real `lai run` (child process); a seed sets both the task's data and the run's
sampling and training. Runs already finished in --runs-dir are reused, so an interrupted
benchmark continues where it stopped.

    python bench/loop_gain.py                      # 3 seeds x (le, lec, random): hours on 2 CPUs
    python bench/loop_gain.py --seeds 0 --set loop.max_iterations=1
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

STRATEGIES = ("le", "lec", "random")


def run_once(strategy: str, seed: int, runs_dir: Path, overrides: list[str]) -> dict:
    run_id = f"gain-{strategy}-s{seed}"
    metrics = runs_dir / run_id / "metrics.json"
    if not (metrics.exists() and "best" in json.loads(metrics.read_text()).get("test", {})):
        cmd = [sys.executable, "-m", "lai.graph.cli", "run", "--strategy", strategy,
               "--seed", str(seed), "--runs-dir", str(runs_dir), "--run-id", run_id, "--quiet",
               "--set", f"task.options.seed={seed}", *sum((["--set", o] for o in overrides), [])]
        if (runs_dir / run_id).exists():  # an unfinished run: start it again from scratch
            shutil.rmtree(runs_dir / run_id)
        log = runs_dir / f"{run_id}.log"
        runs_dir.mkdir(parents=True, exist_ok=True)
        with log.open("w") as f:
            rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
        if rc != 0:
            raise SystemExit(f"{run_id} failed (exit {rc}); see {log}")
    return json.loads(metrics.read_text())


def mean_sd(xs: list[float]) -> str:
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{100 * statistics.mean(xs):5.1f} ± {100 * sd:4.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument("--runs-dir", type=Path, default=Path("runs/bench-gain"))
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()

    console = Console()
    results: dict[str, list[dict]] = {}
    for seed in args.seeds:
        for strategy in args.strategies:
            console.print(f"run {strategy} seed {seed} ...")
            m = run_once(strategy, seed, args.runs_dir, args.overrides)
            results.setdefault(strategy, []).append(m)
            console.print(f"  test {m['test']['baseline']:.3f} → {m['test']['best']:.3f} "
                          f"({len(m['history']) - 1} rounds, {m.get('wall_minutes', '?')} min)")

    table = Table(title=f"test accuracy, % (mean ± sd over seeds {args.seeds})")
    for col in ("strategy", "baseline", "final", "gain", "kept / round", "minutes"):
        table.add_column(col, justify="right")
    for strategy, runs in results.items():
        base = [m["test"]["baseline"] for m in runs]
        best = [m["test"]["best"] for m in runs]
        kept = [r.get("kept", 0) for m in runs for r in m["history"][1:]]
        table.add_row(strategy, mean_sd(base), mean_sd(best),
                      mean_sd([b - a for a, b in zip(base, best)]),
                      f"{statistics.mean(kept):.0f}" if kept else "-",
                      f"{statistics.mean(m.get('wall_minutes', 0) for m in runs):.1f}")
    console.print(table)


if __name__ == "__main__":
    main()
