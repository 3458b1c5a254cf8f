"""Rich progress bars and messages for long steps (evaluation, instructor calls, training)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from lai.tools.jsonl import write_json


class UI:
    def __init__(self, console: Console | None = None, quiet: bool = False,
                 progress_path: Path | None = None):
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.progress_path = progress_path
        """Where the current bar's state is written, for `lai show --follow` (None = nowhere)."""

    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message)

    @contextmanager
    def bar(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress bar; yields `advance(n, note=None, total=None)`. Its state also goes to
        `progress_path` (at most once a second), quiet or not."""
        record = ProgressFile(self.progress_path, description, total)
        if self.quiet:
            yield record.advance
            record.write(force=True)
            return
        columns = (TextColumn("  {task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                   TextColumn("{task.fields[note]}"))
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task(description, total=total, note="")

            def advance(n: float = 1, note: str | None = None, total: int | None = None) -> None:
                record.advance(n, note, total)
                extra = {"note": note} if note else {}
                progress.update(task, advance=n, **({"total": total} if total else {}), **extra)

            yield advance
            record.write(force=True)


class ProgressFile:
    """A progress bar's state as JSON (`label`, `done`, `total`, `note`, `started`, `updated`),
    rewritten atomically, so another process can show it from the run folder alone."""

    def __init__(self, path: Path | None, label: str, total: int):
        self.path, self.last = path, 0.0
        self.state = {"label": label, "done": 0, "total": total, "note": "", "started": time.time()}
        self.write(force=True)

    def advance(self, n: float = 1, note: str | None = None, total: int | None = None) -> None:
        self.state["done"] += n
        if note:
            self.state["note"] = note
        if total:
            self.state["total"] = total
        self.write()

    def write(self, force: bool = False) -> None:
        now = time.time()
        if self.path is None or (not force and now - self.last < 1.0):
            return
        self.last = now
        write_json(self.path, {**self.state, "updated": now})
