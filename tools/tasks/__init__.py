"""Tasks: importing this package registers the built-in ones."""

from lai.tools.tasks.base import Item, Task, get_task, register_task, task_names
from lai.tools.tasks import arith  # noqa: F401  (registers "arith")
# The paper's benchmarks: gsm8k, gsm_plus, math_jsonl; mmlu, arc_challenge, choice_jsonl;
# mbpp, humaneval, code_jsonl.
from lai.tools.tasks import choice, code, math  # noqa: F401
from lai.tools.tasks import mixed  # noqa: F401  (several tasks in one run)

__all__ = ["Item", "Task", "get_task", "register_task", "task_names"]
