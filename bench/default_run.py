"""The default run's figures: `lai run` on the embedded default, timed, with the peak memory of
its whole process tree (the loop and its training child together), written to
bench/results/default_run.json.

    python bench/default_run.py                    # the default: 3 rounds, LE, offline instructor
    python bench/default_run.py --set loop.max_iterations=1
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

RESULTS = Path(__file__).parent / "results" / "default_run.json"


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of a process and all its descendants now."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    ap.add_argument("--run-id", default=f"default-{time.strftime('%Y%m%d-%H%M%S')}")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()

    cmd = [sys.executable, "-m", "lai.graph.cli", "run", "--runs-dir", str(args.runs_dir),
           "--run-id", args.run_id, *sum((["--set", o] for o in args.overrides), [])]
    start, peak = time.time(), 0
    child = subprocess.Popen(cmd)
    proc = psutil.Process(child.pid)
    while child.poll() is None:
        peak = max(peak, tree_rss(proc))
        time.sleep(0.5)
    minutes = (time.time() - start) / 60
    if child.returncode:
        raise SystemExit(f"lai run failed (exit {child.returncode})")
    metrics = json.loads((args.runs_dir / args.run_id / "metrics.json").read_text())
    test = metrics["test"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    result = {
        "commit": commit, "command": " ".join(["python", *sys.argv]),
        "date": datetime.date.today().isoformat(),
        "test_accuracy": test.get("best"), "test_accuracy_baseline": test.get("baseline"),
        "test_accuracy_heldout_phrasing": test.get("best_heldout_phrasing"),
        "test_by_phrasing": test.get("best_by_phrasing"), "test_by_skill": test.get("best_by_skill"),
        "validation_per_round": [r.get("validation") for r in metrics["history"]],
        "kept_per_round": [r.get("kept_as_best") for r in metrics["history"]],
        "stop_reason": metrics.get("stop_reason"), "minutes": round(minutes, 1),
        "peak_gib": round(peak / 2**30, 2), "run_dir": str(args.runs_dir / args.run_id),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("test_by_skill",)}, indent=1))


if __name__ == "__main__":
    main()
