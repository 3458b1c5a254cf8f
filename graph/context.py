"""What every node needs, built once per run: config, task, role models, the target model,
the UI, and the evaluation helper that runs the target with an adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from lai.agents.evaluator import EvalReport, Evaluator
from lai.agents.ledger import Ledger
from lai.agents.llm_client import RoleClient
from lai.graph.config import LaiConfig
from lai.graph.layout import RoundFiles, RunLayout
from lai.graph.ui import UI
from lai.tools.generation import GenerationBackend, GenerationConfig, HFBackend
from lai.tools.tasks.base import Item, Task
from lai.tools.trace import TraceStore


class Target(Protocol):
    """The model being taught, as the loop uses it. Injected through `Context.target`, so a
    test can run the whole graph in seconds with a fake one."""

    def backend(self, adapter: str | None) -> GenerationBackend:
        """The base model with `adapter` (a LoRA folder; None = none), ready to answer."""

    def train(self, job: dict[str, Any], job_path: Path, stdout_path: Path,
              on_progress: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Train one adapter (`job`: see `run_training_subprocess`); returns its summary.

        Raises:
            TrainingFailed: the training did not finish (`lai.training.jobs`).
        """


@dataclass
class HFTarget:
    """The real target: transformers weights loaded for each evaluation, LoRA training in a
    child process."""

    model_path: str
    dtype: str
    """`target.dtype`: `auto` or a torch dtype name."""
    generation: GenerationConfig

    def backend(self, adapter: str | None) -> GenerationBackend:
        import torch

        from lai.training.target import load_target

        dtype = None if self.dtype == "auto" else getattr(torch, self.dtype)
        model, tokenizer = load_target(self.model_path, adapter_dir=adapter, dtype=dtype)
        return HFBackend(model, tokenizer, self.generation)

    def train(self, job, job_path, stdout_path, on_progress):
        from lai.training.jobs import run_training_subprocess

        return run_training_subprocess(job, job_path, stdout_path, on_progress=on_progress)


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
    target: Target | None = None
    """Runs and trains the target; None = the real one on `model_path`: `HFTarget`, or
    `VLLMTarget` for `generation.backend: vllm`."""
    tracking: Any = None
    """The run's MLflow `Tracker` (`graph/tracking.py`); None = not tracked."""
    _splits: dict[str, list[Item]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.target is None and self.cfg.generation.backend == "vllm":
            from lai.graph.vllm_target import VLLMTarget, serves_roles

            self.target = VLLMTarget(self.model_path, self.cfg.target.dtype, self.cfg.generation,
                                     log_path=self.run_dir / "vllm_server.log",
                                     lora_r=self.cfg.train.lora_r)
            if serves_roles(self.cfg):  # a local instructor on the same server: up before any call
                self.target.start()
        elif self.target is None:
            self.target = HFTarget(self.model_path, self.cfg.target.dtype, self.cfg.generation)

    def stop_reason(self) -> str | None:
        """Why the loop must stop at the next node boundary (a budget ran out), or None."""
        return self.ledger.exhausted() if self.ledger else None

    def items(self, split: str) -> list[Item]:
        """A split's items, loaded once, cut to `task.limits`."""
        if split not in self._splits:
            self._splits[split] = self.task.load(split, self.cfg.task.limits.get(split))
        return self._splits[split]

    @property
    def layout(self) -> RunLayout:
        """The run folder's file names."""
        return RunLayout(self.run_dir)

    def iter_dir(self, iteration: int) -> Path:
        """Round `iteration`'s folder, created."""
        path = self.layout.round_dir(iteration)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def round(self, iteration: int) -> RoundFiles:
        """Round `iteration`'s files; its folder is created."""
        return RoundFiles(self.iter_dir(iteration))

    def evaluate(self, split: str, adapter: str | None, out_path: Path) -> EvalReport:
        """Run the target (base + adapter) on a split with a progress bar."""
        items = self.items(split)
        backend = self.target.backend(adapter)
        evaluator = Evaluator(self.task, backend, self.cfg.generation)
        label = f"evaluate {split}" + (" (base)" if adapter is None else "")
        with self.ui.bar(label, len(items)) as advance:
            report = evaluator.run(items, split, out_path, advance)
        del backend, evaluator  # the weights go before the next model loads
        return report
