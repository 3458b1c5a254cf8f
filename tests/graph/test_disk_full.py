"""A full disk: the writers leave no half-written file, a run stops with one message that says
so (no traceback) and how to go on, and `lai resume` once there is space again ends with the
same files as a run that never stopped. The CLI runs on the fake target and the scripted
instructor (`tests.graph.full_disk_cli`); the disk fills by an injected ENOSPC everywhere, and for
real (a small tmpfs in a mount namespace) where this machine allows one."""

import errno
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from lai.tools.errors import disk_full
from lai.tools.jsonl import read_jsonl, write_json, write_jsonl
from lai.training.jobs import TrainingFailed, run_training_subprocess
from tests.graph.digest_run import digest
from tests.graph.full_disk_cli import main as lai
from tests.graph.full_disk_cli import run_args

REPO = Path(__file__).resolve().parents[2]


def _enospc(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("write", [lambda p: write_jsonl(p, [{"new": 1}]), lambda p: write_json(p, {"new": 1})])
def test_a_write_on_a_full_disk_names_the_file_and_leaves_the_old_one(tmp_path, write):
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [{"old": 1}])
    with mock.patch("os.fsync", _enospc), pytest.raises(OSError) as e:
        write(path)
    assert (e.value.errno, e.value.filename) == (errno.ENOSPC, str(path))
    assert read_jsonl(path) == [{"old": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]  # no temp file left


def test_disk_full_is_found_in_the_error_chain():
    enospc = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise enospc
        except OSError:
            raise RuntimeError("writing the status failed too")  # noqa: B904 - the chain is the point
    except RuntimeError as e:
        assert disk_full(e) is enospc
    assert disk_full(sqlite3.OperationalError("database or disk is full"))
    assert disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert disk_full(PermissionError(errno.EACCES, "Permission denied")) is None
    assert disk_full(ValueError("no")) is None


@pytest.mark.parametrize("log, error", [
    ("OSError: [Errno 28] No space left on device: 'checkpoint-4/optimizer.pt'", OSError),
    ("safetensors_rust.SafetensorError: Error while serializing: IoError(Os { code: 28, kind: StorageFull })",
     OSError),
    ("torch.OutOfMemoryError: CUDA out of memory", TrainingFailed),
])
def test_a_training_child_out_of_space_stops_the_run_instead_of_failing_the_round(tmp_path, monkeypatch, log, error):
    """The train node records TrainingFailed as a failed round; a full disk must instead stop
    the run, so that the round is trained again on resume."""
    child = tmp_path / "child.sh"
    child.write_text(f"#!/bin/sh\necho 'Traceback (most recent call last):'\necho \"{log}\"\nexit 1\n")
    child.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(child))
    with pytest.raises(error) as e:
        run_training_subprocess({}, tmp_path / "job.json", tmp_path / "stdout.log")
    assert isinstance(e.value, TrainingFailed) == (error is TrainingFailed)
    assert disk_full(e.value) if error is OSError else not disk_full(e.value)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The same run on a disk with room."""
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "r"
    assert lai(run_args(run_dir.parent, "r")) == 0
    return run_dir


def _files(run_dir: Path) -> dict[str, str]:
    """Digest of each sample and evaluation file (clock values dropped)."""
    return {str(p.relative_to(run_dir)): digest(p) for p in sorted(run_dir.rglob("*.jsonl"))}


def _history(run_dir: Path) -> list:
    return [{k: v for k, v in row.items() if k not in ("seconds", "minutes", "started")}
            for row in json.loads((run_dir / "metrics.json").read_text())["history"]]


def _assert_stopped_cleanly(returncode: int, out: str, run_dir: Path):
    assert returncode == 1, out
    assert "the disk is full" in out and "lai resume" in out, out
    assert "Traceback" not in out
    assert not list(run_dir.rglob("*.tmp"))  # no half-written file
    assert not (run_dir / "metrics.json").exists()


@pytest.mark.parametrize("full_at", ["status.json", "iter_001/generated.jsonl", "metrics.json"],
                         ids=["before the first checkpoint", "in round 1", "at the end"])
def test_a_run_whose_disk_fills_stops_cleanly_and_resumes_to_the_same_end(tmp_path, uninterrupted, full_at):
    full = subprocess.run([sys.executable, "-m", "tests.graph.full_disk_cli", *run_args(tmp_path, "r")],
                          cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "LAI_TEST_DISK_FULL_AT": full_at})
    _assert_stopped_cleanly(full.returncode, full.stdout + full.stderr, tmp_path / "r")
    if full_at.startswith("iter_"):  # inside the graph: the run says how to go on, though status.json can't
        assert f"lai resume r --runs-dir {tmp_path}" in " ".join(full.stdout.split())

    assert lai(["resume", "r", "--runs-dir", str(tmp_path), "--quiet"]) == 0  # space is back
    assert _files(tmp_path / "r") == _files(uninterrupted)
    assert _history(tmp_path / "r") == _history(uninterrupted)
    assert json.loads((tmp_path / "r" / "status.json").read_text())["status"] == "finished"


def _mount_namespace() -> list[str] | None:
    """`unshare` arguments that give a private mount namespace here, or None."""
    args = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount"]
    try:
        ok = subprocess.run([*args, "true"], capture_output=True).returncode == 0
    except OSError:
        return None
    return args if ok else None


FULL_TMPFS = """
set -e
mount -t tmpfs -o size=1024k tmpfs "$DISK"
head -c $(( (1024 - FREE_KB) * 1024 )) /dev/zero > "$DISK/ballast"
set +e
"$PYTHON" -m tests.graph.full_disk_cli "$@" > "$OUT/run.out" 2>&1
echo $? > "$OUT/run.rc"
rm "$DISK/ballast"
cp -r "$DISK/r" "$OUT/stopped"
"$PYTHON" -m tests.graph.full_disk_cli resume r --runs-dir "$DISK" > "$OUT/resume.out" 2>&1
echo $? > "$OUT/resume.rc"
cp -r "$DISK/r" "$OUT/r"
"""


@pytest.mark.skipif(_mount_namespace() is None, reason="no mount namespace here for a small tmpfs")
def test_a_real_full_disk(tmp_path, uninterrupted):
    """A 1 MiB tmpfs with 160 KiB left: the run stops where the disk really fills (a JSON file
    or SQLite's checkpoint, wherever it comes), and resumes once the ballast is gone."""
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir(), out.mkdir()
    env = {**os.environ, "DISK": str(disk), "OUT": str(out), "FREE_KB": "160", "PYTHON": sys.executable}
    subprocess.run([*_mount_namespace(), "sh", "-c", FULL_TMPFS, "sh", *run_args(disk, "r")],
                   cwd=REPO, env=env, check=True)

    _assert_stopped_cleanly(int((out / "run.rc").read_text()), (out / "run.out").read_text(), out / "stopped")
    assert (out / "resume.rc").read_text().strip() == "0", (out / "resume.out").read_text()
    assert _files(out / "r") == _files(uninterrupted)
    assert _history(out / "r") == _history(uninterrupted)
