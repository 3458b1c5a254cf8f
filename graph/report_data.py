"""What `lai report` shows, gathered from a run's folder: `metrics.json`, `config.yaml`,
`usage.json`, `trace.sqlite` and the round files. Any of them may be missing or unreadable (a
run that stopped early, a `random` control run); a file that exists but cannot be read is
noted in `RunData.notes`, never fatal. Rendering is `report.py`'s.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lai.graph.layout import RoundFiles, RunLayout
from lai.tools.jsonl import read_jsonl

ROLE_ORDER = ("analyst", "generator", "judge")


@dataclass
class RunData:
    run_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    """The resolved config as plain data (`LaiConfig.model_dump`), or the raw YAML."""
    roles: dict[str, str] = field(default_factory=dict)
    """Role → how its model is described; empty for the `random` control."""
    usage: dict[str, dict[str, float]] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    """Role → mean seconds per uncached call (from trace.sqlite)."""
    rounds: list[int] = field(default_factory=list)
    """Rounds 1.. found in the history or as `iter_<k>` folders."""
    notes: list[str] = field(default_factory=list)
    """Files that exist but could not be read."""

    def history_row(self, k: int) -> dict[str, Any]:
        for row in self.metrics.get("history") or []:
            if row.get("iteration") == k:
                return row
        return {}

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.run_dir)

    def round(self, k: int) -> RoundFiles:
        return self.layout.round(k)

    def rows(self, path: Path) -> list[dict] | None:
        """Rows of a JSONL file of the run, or None when it is missing or unreadable."""
        if not path.is_file():
            return None
        try:
            return read_jsonl(path)
        except Exception as e:  # noqa: BLE001 - a report must not die on one bad file
            self.notes.append(f"{path.relative_to(self.run_dir)}: {e}")
            return None


def load_run(run_dir: Path) -> RunData:
    run_dir = Path(run_dir)
    data = RunData(run_dir=run_dir)
    layout = data.layout
    data.metrics = _read_json(layout.metrics, data) or {}
    data.config, data.roles = _read_config(layout.config, data)
    usage = _read_json(layout.usage, data) or {}
    data.usage = usage.get("roles") or data.metrics.get("usage") or {}
    data.latency = _read_latency(layout.trace, data)
    rounds = {r.get("iteration") for r in data.metrics.get("history") or []} | set(layout.rounds())
    data.rounds = sorted(k for k in rounds if isinstance(k, int) and k >= 1)
    return data


def _read_json(path: Path, data: RunData) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        data.notes.append(f"{path.name}: {e}")
        return None


def _read_config(path: Path, data: RunData) -> tuple[dict, dict[str, str]]:
    """The config as data and each used role's model; an old or invalid config falls back
    to its raw YAML (and role names read from it as written)."""
    if not path.is_file():
        return {}, {}
    try:
        from lai.agents.llm import describe
        from lai.graph.config import load_config, run_roles

        cfg = load_config(path)
        described = {r: describe(cfg.roles.resolve(r)) for r in run_roles(cfg)}
        return cfg.model_dump(mode="json"), described
    except Exception as e:  # noqa: BLE001
        data.notes.append(f"config.yaml could not be validated ({str(e).splitlines()[0]}); shown as written")
    try:
        import yaml

        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except Exception as e:  # noqa: BLE001
        data.notes.append(f"config.yaml: {e}")
        return {}, {}
    if not isinstance(raw, dict):
        return {}, {}
    roles_cfg = raw.get("roles") or {}
    default = (roles_cfg.get("default") or {}).get("model") if isinstance(roles_cfg, dict) else None
    described = {r: str((roles_cfg.get(r) or {}).get("model") or default or "?")
                 for r in ROLE_ORDER[:2] if isinstance(roles_cfg, dict)}
    return raw, described


def _read_latency(path: Path, data: RunData) -> dict[str, float]:
    if not path.is_file():
        return {}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT role, AVG(latency_s) FROM llm_calls "
                              "WHERE cached = 0 AND latency_s IS NOT NULL GROUP BY role").fetchall()
        finally:
            db.close()
        return {role: float(avg) for role, avg in rows if role and avg is not None}
    except sqlite3.Error as e:
        data.notes.append(f"trace.sqlite: {e}")
        return {}


def category_counts(data: RunData) -> dict[int, Counter | None]:
    """Round → error categories of its ok analyses; None where the round has no analyses."""
    out: dict[int, Counter | None] = {}
    for k in data.rounds:
        rows = data.rows(data.round(k).analyses)
        out[k] = None if rows is None else Counter(
            " ".join(str(r.get("category") or "uncategorised").lower().split())
            for r in rows if r.get("ok"))
    return out


def sample_counts(data: RunData, k: int) -> dict[str, Any] | None:
    """generated / kept / rejects by reason for one round; None when nothing was generated."""
    row = data.history_row(k)
    generated = data.rows(data.round(k).generated)
    kept = data.rows(data.round(k).kept)
    rejected = data.rows(data.round(k).rejected)
    gen_rejects = data.rows(data.round(k).generation_rejects)
    if generated is None and "generated" not in row:
        return None
    reasons: Counter = Counter()
    if gen_rejects is not None:  # every rejected version, with its stage
        reasons.update(f"generation {r.get('stage') or '?'}" for r in gen_rejects)
    else:
        reasons.update({key: n for key, n in row.items()
                        if key.startswith("generation ") and isinstance(n, int)})
    if rejected is not None:
        reasons.update(str(r.get("reject_reason") or "?").split(":")[0] for r in rejected)
    elif isinstance(row.get("rejected"), dict):
        reasons.update({key: n for key, n in row["rejected"].items()
                        if key not in ("kept", "rejected") and isinstance(n, int)})
    detail: Counter = Counter()
    for r in gen_rejects or []:
        detail[f"generation {r.get('stage') or '?'}: {r.get('reason') or ''}"] += 1
    for r in rejected or []:
        detail[str(r.get("reject_reason") or "?")] += 1
    return {"requested": row.get("requested"),
            "generated": len(generated) if generated is not None else row.get("generated"),
            "repaired": row.get("repaired"),
            "kept": len(kept) if kept is not None else row.get("kept"),
            "reasons": reasons, "detail": detail}


def example_round(data: RunData) -> int | None:
    """The best round if it has selected errors, else the last round that has them."""
    best = data.metrics.get("best_iteration")
    candidates = ([best] if isinstance(best, int) and best >= 1 else []) + data.rounds[::-1]
    for k in candidates:
        if data.round(k).selected.is_file():
            return k
    return None


def example_material(data: RunData, k: int) -> tuple[list[dict], dict[str, dict], dict[str, list]]:
    """Round `k`'s selected errors, their analyses by error id, and each error's samples as
    `(sample, status, kept)`, generation rejects included."""
    selected = data.rows(data.round(k).selected) or []
    analyses = {a.get("error_id"): a for a in data.rows(data.round(k).analyses) or []}
    generated = data.rows(data.round(k).generated) or []
    kept = {s.get("id") for s in data.rows(data.round(k).kept) or []}
    rejected = {s.get("id"): s.get("reject_reason") for s in data.rows(data.round(k).rejected) or []}
    curated = data.round(k).kept.is_file()
    gen_rejects = data.rows(data.round(k).generation_rejects) or []
    by_source: dict[str, list[tuple[dict, str, bool]]] = {}
    for s in generated:
        sid = s.get("id")
        status, ok = (("kept", True) if sid in kept
                      else (f"rejected: {rejected[sid]}", False) if sid in rejected
                      else ("not curated (the run stopped first)", False) if not curated
                      else ("not kept", False))
        by_source.setdefault(s.get("source_error"), []).append((s, status, ok))
    for r in gen_rejects:
        by_source.setdefault(r.get("source_error"), []).append(
            (r, f"rejected at generation ({r.get('stage')}): {r.get('reason')}", False))
    return selected, analyses, by_source
