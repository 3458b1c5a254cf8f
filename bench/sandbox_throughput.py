"""Sandbox throughput: HumanEval's canonical solutions checked one at a time vs in parallel.

Each program is prompt + canonical solution + the task's tests + `check(entry_point)`, run through
`lai.tools.sandbox` with its default limits. Every one must pass both ways (a failure here is a
sandbox that breaks good code); prints solutions/second for each way and the ratio.

    python bench/sandbox_throughput.py [--limit 164] [--workers N] [--data ../shared/data/humaneval/test.jsonl]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from lai.tools.jsonl import read_jsonl
from lai.tools.sandbox import SandboxResult, _launch_plan, run_many

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "humaneval" / "test.jsonl"


def programs(path: Path, limit: int | None) -> tuple[list[str], list[str]]:
    rows = read_jsonl(path)[:limit]
    codes = [r["prompt"] + r["canonical_solution"] + "\n" + r["test"] + f"\ncheck({r['entry_point']})\n"
             for r in rows]
    return [r["task_id"] for r in rows], codes


def timed(console: Console, label: str, codes: list[str], workers: int) -> tuple[list[SandboxResult], float]:
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=len(codes))
        t0 = time.perf_counter()
        results = run_many(codes, workers=workers, progress=lambda n: progress.update(task, completed=n))
        seconds = time.perf_counter() - t0
    passed = sum(r.ok for r in results)
    console.print(f"{label:<22} {seconds:6.1f} s  {len(codes) / seconds:6.1f} solutions/s  "
                  f"passed {passed}/{len(codes)}")
    return results, seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None, help="only the first N tasks")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()

    console = Console()
    task_ids, codes = programs(args.data, args.limit)
    plan = _launch_plan()
    console.print(f"{len(codes)} HumanEval canonical solutions, {os.cpu_count()} cores, namespaces: "
                  f"{'yes' if plan.namespaces else 'no'}, own uid: {'yes' if plan.drop_root else 'no'}, "
                  f"private /tmp: {'yes' if plan.private_tmp else 'no'}")

    one, t_one = timed(console, "one at a time", codes, workers=1)
    many, t_many = timed(console, f"run_many, {args.workers} workers", codes, workers=args.workers)
    console.print(f"speed-up {t_one / t_many:.2f}x")

    failed = [(tid, r.reason) for tid, a, b in zip(task_ids, one, many) for r in (a, b) if not r.ok]
    for tid, reason in failed:
        console.print(f"[red]FAIL[/red] {tid}: {reason}")
    assert not failed, f"{len(failed)} canonical solutions failed in the sandbox"
    console.print(f"[green]all {len(codes)} pass in both runs[/green]")


if __name__ == "__main__":
    main()
