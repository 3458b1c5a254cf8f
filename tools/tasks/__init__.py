"""Tasks: importing this package registers the built-in ones."""

from lai.tools.tasks.base import Item, Task, get_task, register_task, task_names
from lai.tools.tasks import arith  # noqa: F401  (registers "arith")

__all__ = ["Item", "Task", "get_task", "register_task", "task_names"]
