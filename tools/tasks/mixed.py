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
class MixedTask:
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
        return {name: task.split_info() if hasattr(task, "split_info") else {"task": name}
                for name, task in self.tasks.items()}

    def accuracy(self, rows: list[dict]) -> float:
        """The split's score from evaluation rows (`task`, `correct`)."""
        if self.score == "pooled" or not rows:
            return sum(r["correct"] for r in rows) / len(rows) if rows else 0.0
        per = self.by_task(rows)
        return sum(per.values()) / len(per)

    @staticmethod
    def by_task(rows: list[dict]) -> dict[str, float]:
        groups: dict[str, list[bool]] = {}
        for r in rows:
            groups.setdefault(r["task"], []).append(bool(r["correct"]))
        return {t: round(sum(v) / len(v), 4) for t, v in groups.items()}

    # per item: the item's own task

    def prompt(self, item: Item) -> Messages:
        return self.for_item(item).prompt(item)

    def completion(self, item: Item) -> str:
        return self.for_item(item).completion(item)

    def extract(self, response: str) -> str | None:
        raise LaiError("task mixed: extraction depends on the item's task; use for_item(item).extract")

    def grade(self, extracted: str | None, item: Item) -> bool:
        return self.for_item(item).grade(extracted, item)

    def show(self, item: Item, response: str | None = None) -> str:
        return self.for_item(item).show(item, response)

    def parse(self, text: str) -> list[Item]:
        raise LaiError("task mixed: parse with the source item's task (for_item)")

    def verify(self, item: Item) -> tuple[bool, str]:
        return self.for_item(item).verify(item)

    def signature(self, item: Item) -> str:
        return f"{item.get('task')}:{self.for_item(item).signature(item)}"


def task_for(task: Any, item: Item) -> Any:
    """The task that handles `item`: its own task inside a mixed run, else `task` itself."""
    return task.for_item(item) if hasattr(task, "for_item") else task
