"""`lai` on the fake target: the real CLI, graph, offline instructor, trace, tracking, plan and
live view, with `FakeTarget` (tests/graph/fakes.py) in place of SmolLM2, so a whole run takes
seconds. For tests that need a run in another process (kill -9, `lai show --follow`):

    python -m tests.graph.fake_cli run --runs-dir DIR --run-id ID [--set ...]
    LAI_FAKE_DELAY_S=0.05 python -m tests.graph.fake_cli ...   # each answer takes that long
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

from lai.graph import cli
from lai.tools.jsonl import write_json
from tests.graph.fakes import FakeBackend, FakeTarget

WEAK = {"sub_borrow", "div"}
TINY = ["task.options.n_mining=28", "task.options.n_validation=14", "task.options.n_test=14",
        "instruct.max_errors=1", "instruct.budget=8", "loop.max_iterations=2", "loop.patience=2",
        "loop.keep_rule=greater"]
"""Two rounds, one error each: round 1 learns one weak skill, round 2 the other."""


class SlowBackend(FakeBackend):
    def generate(self, conversations, progress=None):
        replies = []
        for conversation in conversations:  # one at a time, so a progress bar moves
            time.sleep(self.target.delay_s)
            replies += super().generate([conversation], progress)
        return replies


class SlowTarget(FakeTarget):
    delay_s = float(os.environ.get("LAI_FAKE_DELAY_S", "0"))

    def backend(self, adapter):
        self.backends.append(adapter)
        from tests.graph.fakes import learned_skills

        return SlowBackend(self, set(learned_skills(adapter)))

    def train(self, job, job_path, stdout_path, on_progress):
        write_json(job_path, job)  # as the real supervisor does (training/jobs.py)
        return super().train(job, job_path, stdout_path, on_progress)


def main(argv: list[str]) -> int:
    """`lai.graph.cli.main` with the fake target (and no model to resolve)."""
    open_run = cli._open_run

    def fake_open_run(cfg, run_dir, task, llms, quiet, resume):
        ctx = open_run(cfg, run_dir, task, llms, quiet, resume)
        ctx.target = SlowTarget(task, WEAK)
        return ctx

    with mock.patch("lai.training.target.resolve_model", lambda spec, cache_dir: "fake"), \
            mock.patch.object(cli, "_open_run", fake_open_run):
        return cli.main(argv)


_STORE: list[Path] = []


def seed_store(runs_dir: Path) -> None:
    """Put an empty MLflow store in `runs_dir`: a copy of one made once per test session,
    since creating one (its schema migrations) takes about 10 s."""
    if not _STORE:
        from mlflow import MlflowClient

        folder = Path(tempfile.mkdtemp(prefix="lai-mlflow-"))
        MlflowClient(f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
        _STORE.append(folder / "mlflow.db")
    runs_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(_STORE[0], runs_dir / "mlflow.db")


def run_args(runs_dir, run_id: str, *overrides: str) -> list[str]:
    """`lai run` arguments for a tiny fake run in `runs_dir` (its own cache: rates stay there)."""
    sets = [*TINY, f"run.cache_dir={runs_dir / 'cache'}", *overrides]
    return ["run", "--runs-dir", str(runs_dir), "--run-id", run_id, "--quiet",
            *sum((["--set", s] for s in sets), [])]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
