"""The evaluator agent: runs the target on a split, grades every answer, keeps right and wrong."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lai.tools.generation import GenerationBackend, GenerationConfig
from lai.tools.jsonl import write_json, write_jsonl
from lai.tools.tasks.base import Item, Task
from lai.tools.tasks.mixed import task_for


@dataclass
class EvalReport:
    split: str
    accuracy: float
    n: int
    n_correct: int
    path: Path
    by_skill: dict[str, float]
    seconds: float
    by_task: dict[str, float] | None = None
    """Per-task accuracy in a mixed run (`accuracy` is then their mean, unless pooled)."""

    def summary(self) -> dict:
        return {
            "split": self.split, "accuracy": self.accuracy, "n": self.n,
            "n_correct": self.n_correct, "by_skill": self.by_skill, "by_task": self.by_task,
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
        extracted = [task_for(self.task, it).extract(r) for it, r in zip(items, responses)]
        correct = grade_all(self.task, extracted, items)
        rows = [{"id": item["id"], "split": split, "skill": item.get("skill"),
                 "question": item["question"], "response": response, "extracted": x,
                 "gold": item["target"], "correct": bool(ok),
                 **({"task": item["task"]} if "task" in item else {})}
                for item, response, x, ok in zip(items, responses, extracted, correct)]
        write_jsonl(out_path, rows)
        report = _report(split, rows, out_path, time.time() - start)
        if hasattr(self.task, "accuracy"):  # a mixed run: per-task scores, and their mean
            report.accuracy, report.by_task = self.task.accuracy(rows), self.task.by_task(rows)
        write_json(out_path.with_suffix(".summary.json"), {
            **report.summary(), "task": self.task.name, "task_version": self.task.version,
            "generation": self.gen_cfg.model_dump(),
        })
        return report


def grade_all(task: Task, extracted: list[str | None], items: list[Item]) -> list[bool]:
    """Grade every answer; a task with `grade_many` (code: the sandbox) grades its items at once."""
    correct: list[bool] = [False] * len(items)
    groups: dict[int, tuple[Any, list[int]]] = {}
    for i, it in enumerate(items):
        sub = task_for(task, it)
        groups.setdefault(id(sub), (sub, []))[1].append(i)
    for sub, idx in groups.values():
        if hasattr(sub, "grade_many"):
            results = sub.grade_many([extracted[i] for i in idx], [items[i] for i in idx])
        else:
            results = [sub.grade(extracted[i], items[i]) for i in idx]
        for i, ok in zip(idx, results):
            correct[i] = bool(ok)
    return correct


def _report(split: str, rows: list[dict], path: Path, seconds: float) -> EvalReport:
    by_skill: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        by_skill[r["skill"] or "-"].append(r["correct"])
    n_correct = sum(r["correct"] for r in rows)
    return EvalReport(
        split=split, accuracy=n_correct / len(rows) if rows else 0.0, n=len(rows),
        n_correct=n_correct, path=path, seconds=seconds,
        by_skill={k: round(sum(v) / len(v), 4) for k, v in sorted(by_skill.items())},
    )
