"""The evaluator agent: runs the target on a split, grades every answer, keeps right and wrong."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
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
    by_skill: dict[str, float]
    seconds: float

    def summary(self) -> dict:
        return {
            "split": self.split, "accuracy": self.accuracy, "n": self.n,
            "n_correct": self.n_correct, "by_skill": self.by_skill,
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
        extracted = [self.task.extract(r) for r in responses]
        if hasattr(self.task, "grade_many"):  # code: run every candidate in the sandbox at once
            correct = self.task.grade_many(extracted, items)
        else:
            correct = [self.task.grade(x, it) for x, it in zip(extracted, items)]
        rows = [{"id": item["id"], "split": split, "skill": item.get("skill"),
                 "question": item["question"], "response": response, "extracted": x,
                 "gold": item["target"], "correct": bool(ok)}
                for item, response, x, ok in zip(items, responses, extracted, correct)]
        write_jsonl(out_path, rows)
        report = _report(split, rows, out_path, time.time() - start)
        write_json(out_path.with_suffix(".summary.json"), {
            **report.summary(), "task": self.task.name, "task_version": self.task.version,
            "generation": self.gen_cfg.model_dump(),
        })
        return report


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
