"""Tokens, cost and calls per role for the whole run, and the budgets that stop it.

Saved to `runs/<id>/usage.json` after every call (atomically), so a resumed run keeps
counting from where it was and a budget holds across restarts. Cached replies count as calls
but cost nothing.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lai.tools.jsonl import write_json

_FIELDS = ("calls", "cached", "failed", "retries", "truncated", "input_tokens", "output_tokens", "cost_usd")


class BudgetConfig(BaseModel):
    """Limits that stop the loop cleanly at the next node boundary; None = no limit."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    max_tokens: int | None = Field(None, gt=0)
    """Instructor tokens (input + output, all roles, cache hits excluded)."""
    max_cost_usd: float | None = Field(None, gt=0)
    """Instructor cost in US dollars (needs `roles.prices`)."""
    max_hours: float | None = Field(None, gt=0)
    """Wall-clock hours since the run started."""


class Ledger:
    def __init__(self, path: str | Path | None, budget: BudgetConfig | None = None):
        self.path = Path(path) if path else None
        self.budget = budget or BudgetConfig()
        self._lock = threading.Lock()
        saved: dict[str, Any] = {}
        if self.path and self.path.exists():
            saved = json.loads(self.path.read_text())
        self.started: float = saved.get("started", time.time())
        self.roles: dict[str, dict[str, float]] = saved.get("roles", {})

    def add(self, role: str, reply: Any, cost: float) -> None:
        with self._lock:
            row = self.roles.setdefault(role, dict.fromkeys(_FIELDS, 0))
            row["calls"] += 1
            row["cached"] += reply.cached
            row["failed"] += reply.error is not None
            row["retries"] += reply.retries
            row["truncated"] += reply.truncated
            row["input_tokens"] += reply.input_tokens
            row["output_tokens"] += reply.output_tokens
            row["cost_usd"] = round(row["cost_usd"] + cost, 6)
            self._save()

    def total(self, field: str) -> float:
        return sum(row.get(field, 0) for row in self.roles.values())

    def exhausted(self) -> str | None:
        """Why the run must stop now, or None."""
        b = self.budget
        tokens = self.total("input_tokens") + self.total("output_tokens")
        if b.max_tokens is not None and tokens >= b.max_tokens:
            return f"instructor tokens {tokens:.0f} reached budget.max_tokens={b.max_tokens}"
        cost = self.total("cost_usd")
        if b.max_cost_usd is not None and cost >= b.max_cost_usd:
            return f"instructor cost ${cost:.4f} reached budget.max_cost_usd={b.max_cost_usd}"
        hours = (time.time() - self.started) / 3600
        if b.max_hours is not None and hours >= b.max_hours:
            return f"wall clock {hours:.2f} h reached budget.max_hours={b.max_hours}"
        return None

    def snapshot(self) -> dict[str, Any]:
        return {"started": self.started, "roles": {r: dict(v) for r, v in self.roles.items()}}

    def _save(self) -> None:
        if self.path:
            write_json(self.path, self.snapshot())
