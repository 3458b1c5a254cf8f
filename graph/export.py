"""`lai export`: a run's best adapter (or the merged model) with a model card.

It lives with the loop, not in `training/`: the card reads the run's config and role models.

The card lists what someone picking the model up needs: the base model, the task(s), the
strategy, the instructor model of each role, how much data each round kept, and the scores.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lai.agents.llm import describe
from lai.graph.config import load_config, run_roles
from lai.graph.layout import RunLayout
from lai.tools.errors import LaiError
from lai.tools.jsonl import atomic_write_text
from lai.training.target import load_target, resolve_model


def export_run(run_dir: Path, out: Path, merge: bool = False) -> Path:
    layout = RunLayout(run_dir)
    if not layout.metrics.exists():
        raise LaiError(f"{run_dir} has no metrics.json yet: nothing to export")
    metrics = json.loads(layout.metrics.read_text())
    cfg = load_config(layout.config)
    adapter = metrics.get("best_adapter")
    if not adapter:
        raise LaiError(f"run {run_dir.name}: no round beat the base model, so there is no adapter "
                       f"to export (the base model is {cfg.target.model})")
    if out.exists() and any(out.iterdir()):
        raise LaiError(f"--out {out} exists and is not empty")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if merge:
        import torch

        model, tokenizer = load_target(resolve_model(cfg.target.model, cfg.run.cache_dir), adapter,
                                       dtype=torch.float32, device="cpu", merge=True)
        model.save_pretrained(tmp)
        tokenizer.padding_side = "right"
        tokenizer.save_pretrained(tmp)
    else:
        shutil.copytree(adapter, tmp)
    roles = {r: describe(cfg.roles.resolve(r)) for r in run_roles(cfg)}
    atomic_write_text(tmp / "README.md", model_card(cfg, metrics, roles, merged=merge))
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return out


def model_card(cfg, metrics: dict, roles: dict[str, str], merged: bool) -> str:
    history, test = metrics.get("history", []), metrics.get("test", {})
    rows = "\n".join(_card_row(r) for r in history)
    kept = sum(r.get("kept") or 0 for r in history[1 : (metrics.get("best_iteration") or 0) + 1])
    role_lines = "\n".join(f"- {role}: {name}" for role, name in roles.items()) or "- none (random control)"
    kind = "the base model with the LoRA adapter merged in" if merged else "a LoRA adapter (peft)"
    return f"""---
base_model: {cfg.target.model}
library_name: {'transformers' if merged else 'peft'}
tags: [llms-as-instructors, lora]
---
# {metrics.get('run_id', 'lai run')}: {cfg.target.model} taught by its errors

This is {kind}, trained by [llms-as-instructors](https://arxiv.org/abs/2407.00497): an instructor
studied the model's mistakes and wrote training data aimed at them, round after round.

- **Base model:** `{cfg.target.model}`
- **Task:** `{cfg.task.name}` (options: `{json.dumps(cfg.task.options)}`)
- **Strategy:** `{cfg.instruct.strategy}` (k={cfg.instruct.k}, up to {cfg.instruct.budget} samples a round)
- **Instructors:**
{role_lines}
- **Training data:** {kept} samples kept up to the best round (round {metrics.get('best_iteration')})
- **Test accuracy:** base {test.get('baseline', float('nan')):.3f} → this model {test.get('best', float('nan')):.3f}
- **Stopped:** {metrics.get('stop_reason')}

| round | validation | errors | generated | kept | best |
| --- | --- | --- | --- | --- | --- |
{rows}

LoRA: r={cfg.train.lora_r}, alpha={cfg.train.lora_alpha}, modules `{cfg.train.target_modules}`,
lr {cfg.train.learning_rate}, {cfg.train.epochs} epoch(s) a round.
"""


def _card_row(r: dict) -> str:
    val = "-" if r.get("validation") is None else f"{r['validation']:.3f}"
    name = "base" if r["iteration"] == 0 else r["iteration"]
    return (f"| {name} | {val} | {r.get('errors', '-')} | {r.get('generated', '-')} | "
            f"{r.get('kept', '-')} | {'yes' if r.get('kept_as_best') else ''} |")
