"""The task interface: how to prompt the target, read and grade its answer, show an error to the
instructor, and parse and verify what the instructor writes. One registry maps names to tasks."""

from __future__ import annotations

import difflib
from typing import Any, Callable, Protocol, runtime_checkable

from lai.tools.errors import LaiError

Item = dict[str, Any]
"""A task item. Always: `id`, `question`, `answer` (gold worked solution), `target` (gold final
answer as text). Optional: `skill` (a tag used for reporting and targeted generation)."""

Messages = list[dict[str, str]]


@runtime_checkable
class Task(Protocol):
    name: str
    version: int  # bump when the prompt or grading changes
    family: str  # "math", "multiple_choice" or "code": picks the instructor prompts

    def load(self, split: str, limit: int | None = None) -> list[Item]:
        """Items of a split (`mining`, `validation`, `test`), deterministic."""

    def prompt(self, item: Item) -> Messages:
        """Chat messages that ask the target the item's question."""

    def completion(self, item: Item) -> str:
        """What the target should answer: the training completion."""

    def extract(self, response: str) -> str | None:
        """The final answer in a target response, or None if it gives none."""

    def grade(self, extracted: str | None, item: Item) -> bool:
        """Whether an extracted answer is right."""

    def show(self, item: Item, response: str | None = None) -> str:
        """The item (and the target's response, if any) as text for the instructor."""

    def parse(self, text: str) -> list[Item]:
        """New items from an instructor's free-text reply; unparseable parts are skipped."""

    def verify(self, item: Item) -> tuple[bool, str]:
        """Check a generated item is correct: (ok, reason)."""

    def signature(self, item: Item) -> str:
        """Content identity: two items with one signature are the same problem."""


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
