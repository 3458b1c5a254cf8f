"""How close a run's plan came to what the run did: minutes and instructor calls, per round
and in total, written to bench/results/plan_accuracy.json.

    python bench/plan_accuracy.py RUN_DIR            # a finished run, e.g. the default run's

Two plans are set beside the run:
- `measured_before`: rates measured from the baseline and round 1 alone (`--upto 1`), so the
  rounds after it are predicted out of sample: what the plan of the next run on this machine
  would use, short of a second full run;
- `stated_defaults`: the rates the plan uses on a machine with no run yet. These were measured
  on the default run itself, so on that run they are in sample: a check of the arithmetic,
  not of the prediction.
The call counts do not depend on rates; they are predicted before the run in both.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
from pathlib import Path

from lai.graph.config import load_config
from lai.graph.plan import actual, make_plan
from lai.graph.rates import DEFAULT_RATES, measure
from lai.tools.tasks import get_task

RESULTS = Path(__file__).parent / "results" / "plan_accuracy.json"


def compare(plan: dict, done: list[dict], rounds: set) -> dict:
    """Planned and actual minutes and calls over the plan rows whose round is in `rounds`."""
    got = {r["round"]: r for r in done}
    rows = [r for r in plan["rounds"] if r["round"] in rounds and r["round"] in got]
    planned = sum(r["minutes"] for r in rows)
    happened = sum(got[r["round"]]["minutes"] for r in rows)
    calls = lambda rs, src: sum(sum(src(r)["calls"].values()) for r in rs)  # noqa: E731
    return {"rounds": [r["round"] for r in rows], "planned_minutes": round(planned, 1),
            "actual_minutes": round(happened, 1),
            "minutes_error": round(planned / happened - 1, 3) if happened else None,
            "planned_calls": calls(rows, lambda r: r), "actual_calls": calls(rows, lambda r: got[r["round"]]),
            "per_round": [{"round": r["round"], "planned_minutes": r["minutes"],
                           "actual_minutes": got[r["round"]]["minutes"]} for r in rows]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--upto", type=int, default=1, help="rounds the held-out rates are measured on")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    cfg = load_config(args.run_dir / "config.yaml")
    task = get_task(cfg.task.name, **cfg.task.options)
    done = actual(args.run_dir)
    early = measure(args.run_dir, cfg, upto=args.upto)
    held_out = {r["round"] for r in done} - {"base", *range(1, args.upto + 1)}
    everything = {r["round"] for r in done}
    stated = make_plan(cfg, task, dict(DEFAULT_RATES))
    before = make_plan(cfg, task, {**DEFAULT_RATES, **early,
                                   "calls": {**DEFAULT_RATES["calls"], **early.get("calls", {})},
                                   "source": f"measured on rounds <= {args.upto}"})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = {
        "run_dir": str(args.run_dir), "date": datetime.date.today().isoformat(), "commit": commit,
        "command": f"python bench/plan_accuracy.py {args.run_dir}",
        "measured_before": {"rates": early, **compare(before, done, held_out)},
        "stated_defaults": {"rates": {k: v for k, v in DEFAULT_RATES.items() if k != "source"},
                            "in_sample": True, **compare(stated, done, everything)},
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for name in ("measured_before", "stated_defaults"):
        r = result[name]
        print(f"{name}: rounds {r['rounds']}: minutes planned {r['planned_minutes']} vs actual "
              f"{r['actual_minutes']} ({100 * r['minutes_error']:+.1f}%), calls planned "
              f"{r['planned_calls']} vs actual {r['actual_calls']}")


if __name__ == "__main__":
    main()
