"""A persistent LLM response cache, so a resumed or repeated run never pays for a call twice.

SQLite, keyed by a hash of everything that shapes a reply: model, endpoint, sampling
parameters, response format and the messages. Written by hand rather than langchain's
`SQLiteCache` (langchain-community + SQLAlchemy, one global cache per process, no per-run
hit counts): this is one table and two statements. Only successful replies are stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any


def cache_key(request: dict[str, Any]) -> str:
    """A stable hash of a request description (any JSON-able dict)."""
    blob = json.dumps(request, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")  # several runs may share one cache
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, reply TEXT NOT NULL, "
            "meta TEXT NOT NULL, created REAL NOT NULL)"
        )
        self._db.commit()

    def get(self, key: str) -> tuple[str, dict] | None:
        with self._lock:
            row = self._db.execute("SELECT reply, meta FROM responses WHERE key = ?", (key,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def put(self, key: str, reply: str, meta: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)",
                             (key, reply, json.dumps(meta), time.time()))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._db.close()
