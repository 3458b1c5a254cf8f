"""Rich progress bars and messages for long steps (evaluation, instructor calls, training)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


class UI:
    def __init__(self, console: Console | None = None, quiet: bool = False):
        self.console = console or Console(stderr=True)
        self.quiet = quiet

    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message)

    @contextmanager
    def bar(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress bar; yields `advance(n)`."""
        if self.quiet:
            yield lambda *args, **kwargs: None
            return
        columns = (TextColumn("  {task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                   TextColumn("{task.fields[note]}"))
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task(description, total=total, note="")

            def advance(n: float = 1, note: str | None = None, total: int | None = None) -> None:
                extra = {"note": note} if note else {}
                progress.update(task, advance=n, **({"total": total} if total else {}), **extra)

            yield advance
