"""`LaiError`, the error the CLI prints as a message with exit code 2; `disk_full`, which
finds the one environment error it also names in words: a full disk; and `log_tail`, the log
excerpt a message quotes when a child process failed."""

from collections import deque
from pathlib import Path


class LaiError(Exception):
    """A user-facing error: bad config, bad data, unreachable endpoint. Name the place and the fix."""


def disk_full(error: BaseException | None) -> BaseException | None:
    """The error in `error`'s chain (itself, its cause or context, ...) that says the disk or
    the quota is full: an OSError ENOSPC or EDQUOT, or SQLite's "database or disk is full".

    A chain, because the first write that fails is often not the error that arrives: writing
    the run's status after the failure fails too, with the first one as its context."""
    import errno
    import sqlite3

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return error
        if isinstance(error, sqlite3.OperationalError) and "disk is full" in str(error):  # SQLITE_FULL
            return error
        error = error.__cause__ or error.__context__
    return None


def log_tail(path: Path, n: int = 30) -> str:
    """`; last lines of PATH:` and the log's last `n` lines, to end an error message about a
    child process (the trainer, the vLLM server); "" when the log is missing or empty."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = deque(f, maxlen=n)
    except OSError:
        return ""
    return f"; last lines of {path}:\n" + "".join(lines).rstrip() if lines else ""
