"""The run's trace store (`runs/<id>/trace.sqlite`): every node execution and every LLM call.

Written as things happen, so a run killed mid-stage still shows what it did. Messages and
replies are stored in full; API keys never are (nothing here ever sees one).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    id INTEGER PRIMARY KEY, node TEXT, iteration INTEGER, started REAL, ended REAL,
    seconds REAL, counts TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY, time REAL, node TEXT, iteration INTEGER, role TEXT, model TEXT,
    purpose TEXT, ref TEXT, messages TEXT, response TEXT, input_tokens INTEGER,
    output_tokens INTEGER, latency_s REAL, cost_usd REAL, cached INTEGER, retries INTEGER,
    error TEXT);
"""


class TraceStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.executescript(_SCHEMA)
        self._db.commit()
        self.node: str | None = None  # the node running now: LLM calls are filed under it
        self.iteration: int | None = None

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        cols = ", ".join(row)
        with self._lock:
            cur = self._db.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})",
                                   list(row.values()))
            self._db.commit()
            return cur.lastrowid

    def node_started(self, node: str, iteration: int | None) -> int:
        self.node, self.iteration = node, iteration
        return self._insert("nodes", {"node": node, "iteration": iteration, "started": time.time()})

    def node_ended(self, row_id: int, counts: dict | None = None, error: str | None = None) -> None:
        now = time.time()
        with self._lock:
            self._db.execute(
                "UPDATE nodes SET ended = ?, seconds = ? - started, counts = ?, error = ? WHERE id = ?",
                (now, now, json.dumps(counts or {}, default=str), error, row_id))
            self._db.commit()

    def llm_call(self, **row: Any) -> None:
        row = {"time": time.time(), "node": self.node, "iteration": self.iteration, **row}
        row["messages"] = json.dumps(row.get("messages"), ensure_ascii=False)
        row["cached"] = int(bool(row.get("cached")))
        self._insert("llm_calls", row)

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            self._db.row_factory = sqlite3.Row
            try:
                return self._db.execute(sql, params).fetchall()
            finally:
                self._db.row_factory = None

    def close(self) -> None:
        self._db.close()
