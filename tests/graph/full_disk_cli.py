"""`lai` (its run and resume paths, status file, checkpoints and messages) on a disk that fills
up, with the fake target and the scripted instructor of tests/graph/fakes.py in place of the
model and the LLMs, and no tracking: a run in seconds.

    LAI_TEST_DISK_FULL_AT=iter_001/generated.jsonl python -m tests.graph.full_disk_cli run ...

From the first atomic write (`lai.tools.jsonl`) of that file on, every fsync fails with ENOSPC,
as a file system with delayed allocation reports a full disk. Without the variable: no
injection (the same run on a disk with room).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from unittest import mock

from lai.graph import cli
from lai.graph.context import Context
from lai.graph.ui import UI
from lai.tools.tasks import get_task
from lai.tools.trace import TraceStore
from tests.graph.fakes import FakeTarget, scripted_clients

WEAK = {"sub_borrow", "div"}
SETS = ["task.options.n_mining=28", "task.options.n_validation=14", "task.options.n_test=14",
        "instruct.strategy=le", "instruct.max_errors=4", "instruct.budget=8", "loop.max_iterations=2"]


def run_args(runs_dir: Path, run_id: str) -> list[str]:
    return ["run", "--runs-dir", str(runs_dir), "--run-id", run_id, "--quiet",
            *(arg for s in SETS for arg in ("--set", s))]


def _preflight(cfg):
    return get_task(cfg.task.name, **cfg.task.options), {}


def _open_run(cfg, run_dir, task, llms, quiet, resume):
    trace = TraceStore(run_dir / "trace.sqlite")
    return Context(cfg=cfg, run_dir=run_dir, task=task, model_path="fake", ui=UI(quiet=True),
                   clients=scripted_clients(task, trace=trace), trace=trace, target=FakeTarget(task, WEAK))


def fill_disk_at(name: str) -> None:
    """ENOSPC from the first write of `name` (a path ending, e.g. `status.json`) on."""
    folder, _, base = name.rpartition("/")
    mark = f"{'/' + folder if folder else ''}/.{base}."  # atomic_write_text's temp file name
    real_fsync, full = os.fsync, [False]

    def fsync(fd):
        full[0] = full[0] or mark in os.readlink(f"/proc/self/fd/{fd}")
        if full[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    os.fsync = fsync


def main(argv: list[str]) -> int:
    """`lai.graph.cli.main` with the fakes (restored afterwards: tests call this in-process)."""
    with mock.patch.object(cli, "_preflight", _preflight), mock.patch.object(cli, "_open_run", _open_run):
        return cli.main(argv)


if __name__ == "__main__":
    if os.environ.get("LAI_TEST_DISK_FULL_AT"):
        fill_disk_at(os.environ["LAI_TEST_DISK_FULL_AT"])
    sys.exit(main(sys.argv[1:]))
