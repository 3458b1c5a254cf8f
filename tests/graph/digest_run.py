"""Same seed, same artifacts: run the loop on the fake target and print a digest of every file
it wrote, so a refactor can be checked to change no behaviour (run before and after, diff).

    python -m tests.graph.digest_run OUT_DIR > before.txt   # ... refactor ...
    python -m tests.graph.digest_run OUT_DIR > after.txt && diff before.txt after.txt

Two runs: the scripted instructor with `le` over three rounds (one rolled back), and the
offline instructor with `lec` over two. Wall-clock values (`seconds`, `minutes`, `started`,
`latency_s`) are dropped before hashing; `trace.sqlite` (times only) is left out. OUT_DIR
must be the same path both times: files record their own paths.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver

from lai.graph.build import build_graph, recursion_limit
from lai.graph.cli import make_clients
from lai.graph.config import load_config
from lai.graph.context import Context
from lai.graph.ui import UI
from lai.tools.tasks import get_task
from tests.graph.fakes import FakeTarget, scripted_clients

CLOCK = {"seconds", "minutes", "started", "latency_s"}
RUNS = {
    "scripted-le": (["instruct.strategy=le", "loop.max_iterations=3", "loop.patience=2",
                     "instruct.max_errors=1"], {"forget_rounds": {2}}, "scripted"),
    "offline-lec": (["instruct.strategy=lec", "loop.max_iterations=2", "loop.patience=2",
                     "instruct.max_errors=6", "instruct.budget=16"], {}, "offline"),
}
TINY = ["task.options.n_mining=28", "task.options.n_validation=14", "task.options.n_test=14",
        "run.seed=3"]


def run(run_dir: Path, overrides: list[str], target_options: dict, instructor: str) -> None:
    cfg = load_config(None, [*TINY, *overrides])
    task = get_task(cfg.task.name, **cfg.task.options)
    clients = scripted_clients(task) if instructor == "scripted" else make_clients(cfg, None, None)
    ctx = Context(cfg=cfg, run_dir=run_dir, task=task, model_path="fake", clients=clients,
                  ui=UI(quiet=True), target=FakeTarget(task, {"sub_borrow", "div"}, **target_options))
    build_graph(ctx, InMemorySaver()).invoke(
        {}, {"configurable": {"thread_id": "t"}, "recursion_limit": recursion_limit(3)})


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in CLOCK}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def digest(path: Path) -> str:
    if path.suffix == ".json":
        data = json.dumps(_strip(json.loads(path.read_text())), sort_keys=True)
    elif path.suffix == ".jsonl":
        data = "\n".join(json.dumps(_strip(json.loads(line)), sort_keys=True)
                         for line in path.read_text().splitlines() if line.strip())
    else:
        data = path.read_text(errors="replace")
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def main(out: str) -> None:
    for name, (overrides, target_options, instructor) in RUNS.items():
        run_dir = Path(out) / name
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        run(run_dir, overrides, target_options, instructor)
        for path in sorted(p for p in run_dir.rglob("*") if p.is_file() and p.name != "trace.sqlite"):
            print(f"{path.relative_to(out)} {digest(path)}")


if __name__ == "__main__":
    main(sys.argv[1])
