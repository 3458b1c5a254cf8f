"""The task interface: how to prompt the target, read and grade its answer, show an error to the
instructor, and parse and verify what the instructor writes. One registry maps names to tasks.

`Task` is the only interface the loop uses: every member a caller may touch is declared here,
the optional ones with a default, so no caller has to ask a task what it can do. Everything
that depends on an item takes the item, so a task holding several families (`mixed`)
dispatches by itself.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar

from lai.tools.errors import LaiError

Item = dict[str, Any]
"""A task item. Always: `id`, `question`, `answer` (gold worked solution), `target` (gold final
answer as text). Optional: `skill` (a tag used for reporting and targeted generation)."""

Messages = list[dict[str, str]]


class Task(ABC):
    name: ClassVar[str]
    version: ClassVar[int]
    """Bump when the prompt or grading changes."""
    family: ClassVar[str]
    """`math`, `multiple_choice` or `code`: picks the instructor prompts and sample schema."""
    categories: ClassVar[tuple[str, ...]] = ()
    """The error categories the analyst picks from; empty = the family's defaults."""
    can_sample: ClassVar[bool] = False
    """Whether `sample` can draw fresh items (the `random` and `skill_matched` controls)."""

    # ------------------------------------------------------------------ required

    @abstractmethod
    def load(self, split: str, limit: int | None = None) -> list[Item]:
        """Items of a split (`mining`, `validation`, `test`), deterministic."""

    @abstractmethod
    def prompt(self, item: Item) -> Messages:
        """Chat messages that ask the target the item's question."""

    @abstractmethod
    def completion(self, item: Item) -> str:
        """What the target should answer: the training completion."""

    @abstractmethod
    def extract(self, response: str, item: Item | None = None) -> str | None:
        """The final answer in a target's response to `item`, or None if it gives none. A
        single-family task reads every response alike and may be called without the item."""

    @abstractmethod
    def grade(self, extracted: str | None, item: Item) -> bool:
        """Whether an extracted answer is right."""

    @abstractmethod
    def show(self, item: Item, response: str | None = None) -> str:
        """The item (and the target's response, if any) as text for the instructor."""

    @abstractmethod
    def parse_with_rejects(self, text: str) -> tuple[list[Item], list[dict]]:
        """New items from an instructor's free-text reply, and the parts that could not be
        read (`{"text", "reason"}`)."""

    @abstractmethod
    def verify(self, item: Item) -> tuple[bool, str]:
        """Check a generated item is correct: (ok, reason)."""

    @abstractmethod
    def signature(self, item: Item) -> str:
        """Content identity: two items with one signature are the same problem."""

    # ------------------------------------------------------------------ optional, with defaults

    def for_item(self, item: Item) -> Task:
        """The single-family task that owns `item`: itself, except in a `mixed` run, where the
        instructor's prompts, categories and reply parsing are those of the item's own task."""
        return self

    def parse(self, text: str) -> list[Item]:
        """`parse_with_rejects` without the rejects."""
        return self.parse_with_rejects(text)[0]

    def from_fields(self, fields: dict) -> Item | None:
        """An item from a structured (JSON) sample of the family's schema; None = cannot."""
        return None

    def grade_many(self, extracted: list[str | None], items: list[Item]) -> list[bool]:
        """`grade` for many answers at once (code: one sandbox pool for all)."""
        return [self.grade(x, it) for x, it in zip(extracted, items)]

    def accuracy(self, rows: list[dict]) -> float:
        """A split's score from its evaluation rows (`correct`): the fraction right."""
        return sum(bool(r["correct"]) for r in rows) / len(rows) if rows else 0.0

    def by_task(self, rows: list[dict]) -> dict[str, float] | None:
        """Accuracy per task of a multi-task run; None for a single task."""
        return None

    def split_info(self) -> dict:
        """How the splits were made, for the run's record (`splits.json`)."""
        return {"task": self.name}

    def sample(self, n: int, seed: int, skill: str | None = None, **how: Any) -> list[Item]:
        """`n` fresh items never in validation or test (only when `can_sample`)."""
        raise LaiError(f"task {self.name!r} cannot draw fresh items (use instruct.strategy "
                       f"le, lec or mimic)")


_REGISTRY: dict[str, Callable[..., Task]] = {}


def register_task(name: str) -> Callable:
    """Class decorator: make a task constructible by name."""

    def wrap(factory: Callable[..., Task]) -> Callable[..., Task]:
        _REGISTRY[name] = factory
        return factory

    return wrap


def task_names() -> list[str]:
    return sorted(_REGISTRY)


def get_task(name: str, **options: Any) -> Task:
    """Build a registered task; an unknown name fails with suggestions."""
    from lai.tools import tasks as _  # noqa: F401  (registers the built-in tasks)

    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise LaiError(f"Unknown task {name!r}: {hint}Available: {', '.join(task_names())}")
    try:
        return _REGISTRY[name](**options)
    except TypeError as e:
        raise LaiError(f"task {name!r}: bad options {sorted(options)}: {e}") from None
