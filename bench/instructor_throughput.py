"""Instructor calls per second with concurrency C versus one at a time.

A local OpenAI-compatible server answers every call after a fixed delay (standing in for a
remote LLM's latency); the analyst agent sends the same N requests through langchain-openai
over HTTP with `concurrency=1` and then with each C. With latency-bound calls the ratio
should be close to C. No cache, so every call really goes over the wire.

    python bench/instructor_throughput.py                 # N=64, delay 0.25 s, C in 4 8 16
    python bench/instructor_throughput.py --calls 128 --delay 0.5 --concurrency 32
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/openai_server.py

from lai.agents.instructor import Instructor  # noqa: E402
from lai.agents.llm import RoleSpec, make_llm  # noqa: E402
from lai.agents.llm_client import RoleClient  # noqa: E402
from lai.tools.tasks.arith import ArithTask  # noqa: E402
from tests.openai_server import OpenAIServer, Scripted  # noqa: E402

REPLY = json.dumps({"diagnosis": "dropped a carry in the tens column", "category": "carry or borrow slip",
                    "skill": "addition with carrying"})


def run(server: OpenAIServer, errors: list[dict], task: ArithTask, concurrency: int, out: Path) -> float:
    spec = RoleSpec(model="openai:bench", base_url=server.base_url, api_key_env="LAI_BENCH_KEY",
                    concurrency=concurrency, timeout_s=30, max_retries=0, structured_output=True)
    client = RoleClient("analyst", spec, make_llm(spec))
    started = time.perf_counter()
    counts = Instructor(client, task, "le").analyse(errors, out)
    seconds = time.perf_counter() - started
    if counts["analysed"] != len(errors):
        raise SystemExit(f"concurrency {concurrency}: only {counts} of {len(errors)} calls succeeded")
    return len(errors) / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=64)
    ap.add_argument("--delay", type=float, default=0.25, help="server-side seconds per call")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[4, 8, 16])
    args = ap.parse_args()
    os.environ.setdefault("LAI_BENCH_KEY", "bench")

    task = ArithTask()
    errors = [{"id": it["id"], "item": it, "response": "#### 7", "extracted": "7", "neighbours": []}
              for it in task.load("mining")[: args.calls]]
    console = Console()
    out = Path("/tmp/lai-bench-analyses.jsonl")
    with OpenAIServer(lambda body: Scripted(REPLY), delay_s=args.delay) as server:
        base = run(server, errors, task, 1, out)
        table = Table(title=f"{len(errors)} analyst calls, {args.delay:.2f} s server delay each")
        for col in ("concurrency", "calls/s", "× one at a time", "ideal"):
            table.add_column(col, justify="right")
        table.add_row("1", f"{base:.2f}", "1.00", "1")
        for c in args.concurrency:
            rate = run(server, errors, task, c, out)
            table.add_row(str(c), f"{rate:.2f}", f"{rate / base:.2f}", str(min(c, len(errors))))
        assert len(server.calls) == len(errors) * (1 + len(args.concurrency))
    console.print(table)


if __name__ == "__main__":
    main()
