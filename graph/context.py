"""What every node needs, built once per run: config, task, role models, the UI, and the
evaluation helper that loads the target with an adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lai.agents.evaluator import EvalReport, Evaluator
from lai.agents.ledger import Ledger
from lai.agents.llm_client import RoleClient
from lai.graph.config import LaiConfig
from lai.graph.ui import UI
from lai.tools.generation import HFBackend
from lai.tools.tasks.base import Item, Task
from lai.tools.trace import TraceStore


@dataclass
class Context:
    cfg: LaiConfig
    run_dir: Path
    task: Task
    model_path: str
    """Resolved target model: a local folder or a Hugging Face id."""
    clients: dict[str, RoleClient]
    """Role name → its client (none for the `random` control; `judge` only when configured)."""
    ui: UI = field(default_factory=UI)
    ledger: Ledger | None = None
    """Instructor tokens, cost and calls per role; the budgets."""
    trace: TraceStore | None = None
    interrupted: str | None = None
    """The signal that asked the run to stop (SIGINT/SIGTERM). Kept here because Python drops an
    exception raised while it runs a `__del__` or a C callback; the next node boundary stops."""
    _splits: dict[str, list[Item]] = field(default_factory=dict)

    def stop_reason(self) -> str | None:
        """Why the loop must stop at the next node boundary (a budget ran out), or None."""
        return self.ledger.exhausted() if self.ledger else None

    def items(self, split: str) -> list[Item]:
        """A split's items, loaded once, cut to `task.limits`."""
        if split not in self._splits:
            self._splits[split] = self.task.load(split, self.cfg.task.limits.get(split))
        return self._splits[split]

    def iter_dir(self, iteration: int) -> Path:
        path = self.run_dir / f"iter_{iteration:03d}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def evaluate(self, split: str, adapter: str | None, out_path: Path) -> EvalReport:
        """Run the target (base + adapter) on a split with a progress bar."""
        from lai.training.target import load_target

        items = self.items(split)
        import torch

        dtype = None if self.cfg.target.dtype == "auto" else getattr(torch, self.cfg.target.dtype)
        model, tokenizer = load_target(self.model_path, adapter_dir=adapter, dtype=dtype)
        backend = HFBackend(model, tokenizer, self.cfg.generation)
        evaluator = Evaluator(self.task, backend, self.cfg.generation)
        label = f"evaluate {split}" + (" (base)" if adapter is None else "")
        with self.ui.bar(label, len(items)) as advance:
            report = evaluator.run(items, split, out_path, advance)
        del model
        return report
