"""The evaluator agent: runs the target on a split, grades every answer, keeps right and wrong.

Every evaluation also breaks its score down by group: per skill (the item's `skill`, else its
`subject` or `category`, e.g. an MMLU subject) and per phrasing (`seen` / `held_out`, for
items that carry a boolean `held_out_phrasing`: test items written in a phrasing training
never sees). Each group is `{"n": int, "correct": int, "accuracy": float}`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lai.tools.generation import GenerationBackend, GenerationConfig
from lai.tools.jsonl import write_json, write_jsonl
from lai.tools.tasks.base import Item, Task


@dataclass
class EvalReport:
    split: str
    accuracy: float
    n: int
    n_correct: int
    path: Path
    by_skill: dict[str, dict]
    """Skill (or subject / category) → `{n, correct, accuracy}`; items without one are not
    grouped, so it is empty for a task with no skills."""
    seconds: float
    by_task: dict[str, float] | None = None
    """Per-task accuracy in a mixed run (`accuracy` is then their mean, unless pooled)."""
    by_phrasing: dict[str, dict] = field(default_factory=dict)
    """`seen` / `held_out` → `{n, correct, accuracy}`, over the items that carry
    `held_out_phrasing`; empty when none does."""

    def skill_accuracy(self) -> dict[str, float]:
        """`by_skill` compacted to skill → accuracy."""
        return accuracies(self.by_skill)

    def phrasing_accuracy(self) -> dict[str, float]:
        """`by_phrasing` compacted to `seen` / `held_out` → accuracy."""
        return accuracies(self.by_phrasing)

    def summary(self) -> dict:
        return {
            "split": self.split, "accuracy": self.accuracy, "n": self.n,
            "n_correct": self.n_correct, "by_skill": self.by_skill,
            "by_phrasing": self.by_phrasing, "by_task": self.by_task,
            "seconds": round(self.seconds, 1), "path": str(self.path),
        }


class Evaluator:
    """Grades the target on a split and writes one JSONL row per item (prompt, response,
    extracted answer, gold, correct), plus a summary with the generation settings used."""

    def __init__(self, task: Task, backend: GenerationBackend, gen_cfg: GenerationConfig):
        self.task, self.backend, self.gen_cfg = task, backend, gen_cfg

    def run(
        self, items: list[Item], split: str, out_path: Path,
        progress: Callable[[int], None] | None = None,
    ) -> EvalReport:
        start = time.time()
        responses = self.backend.generate([self.task.prompt(it) for it in items], progress)
        extracted = [self.task.extract(r, it) for it, r in zip(items, responses)]
        correct = [bool(ok) for ok in self.task.grade_many(extracted, items)]
        rows = [{"id": item["id"], "split": split, "skill": item.get("skill"),
                 "question": item["question"], "response": response, "extracted": x,
                 "gold": item["target"], "correct": bool(ok),
                 **({"task": item["task"]} if "task" in item else {}),
                 **({"held_out_phrasing": bool(item["held_out_phrasing"])}
                    if item.get("held_out_phrasing") is not None else {})}
                for item, response, x, ok in zip(items, responses, extracted, correct)]
        write_jsonl(out_path, rows)
        report = _report(split, items, correct, out_path, time.time() - start)
        # the task's own score: a mixed run's is the mean of its tasks' (see `by_task`)
        report.accuracy, report.by_task = self.task.accuracy(rows), self.task.by_task(rows)
        write_json(out_path.with_suffix(".summary.json"), {
            **report.summary(), "task": self.task.name, "task_version": self.task.version,
            "generation": self.gen_cfg.model_dump(),
        })
        return report


def group_of(item: dict) -> str | None:
    """The group an item is scored under: its `skill`, else `subject`, else `category`."""
    for key in ("skill", "subject", "category"):
        value = item.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _counts(pairs: list[tuple[str, bool]]) -> dict[str, dict]:
    groups: dict[str, list[int]] = {}
    for key, ok in pairs:
        n_ok = groups.setdefault(key, [0, 0])
        n_ok[0] += 1
        n_ok[1] += bool(ok)
    return {k: {"n": n, "correct": c, "accuracy": round(c / n, 4)}
            for k, (n, c) in sorted(groups.items())}


def skill_breakdown(items: list[dict], correct: list[bool]) -> dict[str, dict]:
    """Group (`group_of`) → `{n, correct, accuracy}`; ungrouped items are left out."""
    return _counts([(g, ok) for it, ok in zip(items, correct) if (g := group_of(it)) is not None])


def phrasing_breakdown(items: list[dict], correct: list[bool]) -> dict[str, dict]:
    """`seen` / `held_out` → `{n, correct, accuracy}` over items with `held_out_phrasing`."""
    pairs = [("held_out" if it["held_out_phrasing"] else "seen", ok)
             for it, ok in zip(items, correct) if it.get("held_out_phrasing") is not None]
    counts = _counts(pairs)
    return {k: counts[k] for k in ("seen", "held_out") if k in counts}


def accuracies(breakdown: dict[str, dict]) -> dict[str, float]:
    """A breakdown compacted to group → accuracy."""
    return {k: v["accuracy"] for k, v in breakdown.items()}


def _report(split: str, items: list[dict], correct: list[bool], path: Path,
            seconds: float) -> EvalReport:
    n_correct = sum(bool(ok) for ok in correct)
    return EvalReport(
        split=split, accuracy=n_correct / len(items) if items else 0.0, n=len(items),
        n_correct=n_correct, path=path, seconds=seconds,
        by_skill=skill_breakdown(items, correct), by_phrasing=phrasing_breakdown(items, correct),
    )
