"""`mixed`: several tasks mined, taught and scored in one run (the paper's merged data set).

Items keep their own task's fields plus `task` (which one) and an id prefixed with it. Every
per-item call goes to that item's task (`for_item`), so each family keeps its prompts,
grading, parsing and verification. A split's score is the mean of the tasks' accuracies
(`score: mean`, each task counts the same) or the accuracy over all items (`score: pooled`).

    task: {name: mixed, options: {tasks: [{name: gsm8k}, {name: mmlu, options: {seed: 1}}],
                                  limits: {mining: 300, validation: 100, test: 200}}}
"""

from __future__ import annotations

from typing import Any

from lai.tools.errors import LaiError
from lai.tools.tasks.base import Item, Messages, Task, get_task, register_task


@register_task("mixed")
class MixedTask(Task):
    name = "mixed"
    version = 1
    family = "mixed"

    def __init__(self, tasks: list[dict[str, Any]] | None = None, score: str = "mean",
                 limits: dict[str, int] | None = None):
        if not tasks or not isinstance(tasks, list):
            raise LaiError("task mixed: option tasks must list the tasks, e.g. "
                           "[{name: gsm8k}, {name: mmlu}]")
        if score not in ("mean", "pooled"):
            raise LaiError(f"task mixed: option score must be 'mean' or 'pooled', got {score!r}")
        self.score, self.limits = score, limits or {}
        self.tasks: dict[str, Task] = {}
        for i, spec in enumerate(tasks):
            if not isinstance(spec, dict) or "name" not in spec or set(spec) - {"name", "options"}:
                raise LaiError(f"task mixed: tasks[{i}] must be {{name: ..., options: {{...}}}}, got {spec!r}")
            if spec["name"] == "mixed" or spec["name"] in self.tasks:
                raise LaiError(f"task mixed: tasks[{i}] {spec['name']!r} is nested or repeated")
            self.tasks[spec["name"]] = get_task(spec["name"], **spec.get("options", {}))

    def for_item(self, item: Item) -> Task:
        try:
            return self.tasks[item["task"]]
        except KeyError:
            raise LaiError(f"task mixed: item {item.get('id')!r} names no known task "
                           f"(task={item.get('task')!r}; tasks: {', '.join(self.tasks)})") from None

    def load(self, split: str, limit: int | None = None) -> list[Item]:
        """Each task's items in turn, at most `limits[split]` per task."""
        items = []
        for name, task in self.tasks.items():
            for it in task.load(split, self.limits.get(split)):
                items.append({**it, "id": f"{name}:{it['id']}", "task": name})
        return items[:limit]

    def split_info(self) -> dict:
        return {name: task.split_info() for name, task in self.tasks.items()}

    def accuracy(self, rows: list[dict]) -> float:
        """The split's score from evaluation rows (`task`, `correct`)."""
        if self.score == "pooled" or not rows:
            return sum(r["correct"] for r in rows) / len(rows) if rows else 0.0
        per = self.by_task(rows)
        return sum(per.values()) / len(per)

    def by_task(self, rows: list[dict]) -> dict[str, float]:
        groups: dict[str, list[bool]] = {}
        for r in rows:
            groups.setdefault(r["task"], []).append(bool(r["correct"]))
        return {t: round(sum(v) / len(v), 4) for t, v in groups.items()}

    # per item: the item's own task

    def prompt(self, item: Item) -> Messages:
        return self.for_item(item).prompt(item)

    def completion(self, item: Item) -> str:
        return self.for_item(item).completion(item)

    def extract(self, response: str, item: Item | None = None) -> str | None:
        if item is None:
            raise LaiError("task mixed: reading an answer needs the item it answers")
        return self.for_item(item).extract(response, item)

    def grade(self, extracted: str | None, item: Item) -> bool:
        return self.for_item(item).grade(extracted, item)

    def grade_many(self, extracted: list[str | None], items: list[Item]) -> list[bool]:
        """Each task grades its own items at once (code: one sandbox pool)."""
        correct = [False] * len(items)
        for task in self.tasks.values():
            idx = [i for i, it in enumerate(items) if self.for_item(it) is task]
            for i, ok in zip(idx, task.grade_many([extracted[i] for i in idx], [items[i] for i in idx])):
                correct[i] = bool(ok)
        return correct

    def show(self, item: Item, response: str | None = None) -> str:
        return self.for_item(item).show(item, response)

    def parse_with_rejects(self, text: str) -> tuple[list[Item], list[dict]]:
        raise LaiError("task mixed: a reply is parsed by the task of the item it was written "
                       "for (`for_item(item)`)")

    def verify(self, item: Item) -> tuple[bool, str]:
        return self.for_item(item).verify(item)

    def signature(self, item: Item) -> str:
        return f"{item.get('task')}:{self.for_item(item).signature(item)}"

