"""Supervising a training job from the orchestrator: the job runs `lai.training.sft` in a
child Python, and this side relays its progress records, kills it with the parent or on a
timeout, and turns a crash into `TrainingFailed` with the log's last lines.

Kept apart from the trainer so that the orchestrator's side needs neither torch nor TRL.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from lai.tools.errors import LaiError, log_tail
from lai.tools.jsonl import write_json


class TrainingFailed(LaiError):
    """The training child process exited non-zero or timed out; the message holds its log tail."""


def run_training_subprocess(
    job: dict[str, Any],
    job_path: Path | str,
    stdout_log_path: Path | str,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Run `train_lora` in a child Python, relaying its progress records as they are written.

    Args:
        job: `cfg` plus `train_lora`'s paths; `log_path` defaults to `<job_path>.progress.jsonl`.
        job_path: where the job JSON is written for the child.
        stdout_log_path: the child's stdout and stderr.
        on_progress: called with each progress record (including the final `done` one).
        timeout_s: kill the child after this many seconds; None waits forever.

    Returns:
        The summary dict `train_lora` returned.

    Raises:
        TrainingFailed: non-zero exit, timeout or no summary; names the exit code and log tail.
    """
    job_path, stdout_log_path = Path(job_path), Path(stdout_log_path)
    job = {**job, "log_path": str(job.get("log_path") or job_path.with_suffix(".progress.jsonl"))}
    log_path = Path(job["log_path"])
    log_path.unlink(missing_ok=True)  # no stale records from an earlier try
    write_json(job_path, job)
    stdout_log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "lai.training.sft", "--job", str(job_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    tail = _Tail(log_path)
    summary: dict[str, Any] | None = None
    deadline = time.monotonic() + timeout_s if timeout_s else None
    with open(stdout_log_path, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=_die_with_parent)
        try:
            while True:
                rc = proc.poll()
                for record in tail.read():  # read after poll, so the last records are never missed
                    summary = record if record.get("done") else summary
                    if on_progress:
                        on_progress(record)
                if rc is not None:
                    break
                if deadline and time.monotonic() > deadline:
                    raise TrainingFailed(f"Training timed out after {timeout_s}s{log_tail(stdout_log_path)}")
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if rc != 0:
        tail = log_tail(stdout_log_path)
        if _DISK_FULL.search(tail):  # not a failed round: the run stops, and resumes once there is space
            raise OSError(errno.ENOSPC, f"No space left on device while training{tail}")
        why = f", killed by signal {-rc}: out of memory?" if rc < 0 else ""
        raise TrainingFailed(f"Training failed (exit code {rc}{why}){tail}")
    if summary is None:
        raise TrainingFailed(f"Training exited 0 but wrote no summary to {log_path}{log_tail(stdout_log_path)}")
    return summary


# How a full disk reads in the training child's log: Python's OSError, safetensors' IoError.
_DISK_FULL = re.compile(r"\[Errno 28\]|No space left on device|StorageFull")


def _die_with_parent() -> None:
    """Linux: the training child gets SIGKILL when the orchestrator dies (even by `kill -9`),
    so a resumed run never races an orphan writing the same checkpoints."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _Tail:
    """Yields the complete JSON lines appended to a file since the last read."""

    def __init__(self, path: Path):
        self.path, self.offset, self.partial = path, 0, b""

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]
