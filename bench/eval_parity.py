"""Do the HF and vLLM backends score the target the same? Per-item comparison on the same
arith items, base model and one trained LoRA adapter, same dtype and settings.

Why per item: two backends can agree on the aggregate by luck and still differ item by item,
or differ widely (lm-evaluation-harness issue 3150: gsm8k_cot 0.914 under HF, 0.672 under
vLLM, found only by comparing samples). Reports how often the grade agrees and how often the
text is identical, and writes bench/results/eval_parity.json.

    python bench/eval_parity.py [--n 256] [--adapter DIR | --train-steps 24]

Without `--adapter` it first trains a small adapter (arith practice samples, `--train-steps`
optimizer steps) so that the adapter path is compared on weights that change the answers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from provenance import engine_version, provenance
from rich.console import Console
from rich.table import Table

from lai.graph.config import ARITH_ANSWER_TOKENS, default_cache_dir
from lai.graph.context import HFTarget
from lai.graph.vllm_target import VLLMTarget, vllm_python
from lai.tools.generation import GenerationConfig
from lai.tools.jsonl import write_json, write_jsonl
from lai.tools.tasks import get_task
from lai.training.config import TrainConfig
from lai.training.jobs import run_training_subprocess
from lai.training.target import best_dtype, resolve_model

RESULTS = Path(__file__).parent / "results"


def train_adapter(task, model_path, work: Path, steps: int) -> tuple[Path, dict]:
    """A LoRA trained `steps` steps on fresh arith practice samples (never validation items)."""
    cfg = TrainConfig(min_steps=steps, epochs=1, batch_size=8, learning_rate=1e-3,
                      checkpoint_every=0, log_every=max(1, steps // 4))
    rows = [{"prompt": task.prompt(it), "completion": [{"role": "assistant", "content": task.completion(it)}]}
            for it in task.sample(8 * steps, seed=1)]
    write_jsonl(work / "train.jsonl", rows)
    job = {"cfg": cfg.model_dump(mode="json"), "model_path": str(model_path),
           "train_path": str(work / "train.jsonl"), "out_dir": str(work / "adapter")}
    summary = run_training_subprocess(job, work / "train_job.json", work / "train_stdout.log")
    print(f"adapter: {steps} steps, train loss {summary['train_loss']:.3f}, {summary['runtime_s']:.0f} s")
    return work / "adapter", {"steps": summary["steps"], "train_loss": round(summary["train_loss"], 4),
                              "lora_r": cfg.lora_r, "learning_rate": cfg.learning_rate}


def compare(task, items, hf: list[str], vllm: list[str]) -> dict:
    grade = lambda reply, it: bool(task.grade(task.extract(reply, it), it))  # noqa: E731
    hf_ok = [grade(r, it) for r, it in zip(hf, items)]
    vllm_ok = [grade(r, it) for r, it in zip(vllm, items)]
    n = len(items)
    return {"same_grade": sum(a == b for a, b in zip(hf_ok, vllm_ok)) / n,
            "same_text": sum(a == b for a, b in zip(hf, vllm)) / n,
            "accuracy_hf": sum(hf_ok) / n, "accuracy_vllm": sum(vllm_ok) / n,
            "differences": [{"id": it["id"], "hf": a, "vllm": b, "hf_correct": x, "vllm_correct": y}
                            for it, a, b, x, y in zip(items, hf, vllm, hf_ok, vllm_ok) if a != b][:5]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256, help="validation items (arith has 256)")
    ap.add_argument("--adapter", type=Path, help="a trained LoRA folder; default: train one")
    ap.add_argument("--train-steps", type=int, default=24)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--work", type=Path, default=Path("runs/bench_parity"), help="scratch folder")
    ap.add_argument("--out", type=Path, default=RESULTS / "eval_parity.json")
    args = ap.parse_args()

    task = get_task("arith")
    items = task.load("validation")[: args.n]
    prompts = [task.prompt(it) for it in items]
    model_path = resolve_model(args.model, default_cache_dir())
    args.work.mkdir(parents=True, exist_ok=True)
    gen = GenerationConfig(max_new_tokens=ARITH_ANSWER_TOKENS, batch_size=args.batch_size)
    python = vllm_python(gen)  # fails before any work when `make vllm` was not run
    if args.adapter:
        summary = args.adapter / "train_summary.json"
        adapter, trained = args.adapter, {"path": str(args.adapter), **(
            {k: v for k, v in json.loads(summary.read_text()).items() if k in ("steps", "train_loss")}
            if summary.exists() else {})}
    else:
        adapter, trained = train_adapter(task, model_path, args.work, args.train_steps)
    models = {"base": None, "adapter": str(adapter)}

    replies: dict[str, dict[str, list[str]]] = {"hf": {}, "vllm": {}}
    seconds: dict[str, float] = {}
    for label, path in models.items():
        backend = HFTarget(str(model_path), "auto", gen).backend(path)
        t0 = time.perf_counter()
        replies["hf"][label] = backend.generate(prompts)
        seconds[f"hf_{label}"] = round(time.perf_counter() - t0, 1)
        del backend
    target = VLLMTarget(str(model_path), "auto", gen, log_path=args.work / "vllm_server.log",
                        lora_r=json.loads((adapter / "adapter_config.json").read_text())["r"])
    try:
        for label, path in models.items():
            backend = target.backend(path)
            t0 = time.perf_counter()
            replies["vllm"][label] = backend.generate(prompts)
            seconds[f"vllm_{label}"] = round(time.perf_counter() - t0, 1)
        seconds["vllm_engine_start"] = round(target.server.start_seconds, 1)
    finally:
        target.close()

    by_model = {label: compare(task, items, replies["hf"][label], replies["vllm"][label]) for label in models}
    result = {
        **provenance(), "items": len(items),
        "same_grade": sum(m["same_grade"] for m in by_model.values()) / len(by_model),
        "same_text": sum(m["same_text"] for m in by_model.values()) / len(by_model),
        "by_model": by_model, "adapter": trained, "model": args.model,
        "dtype": str(best_dtype()).removeprefix("torch."), "max_new_tokens": gen.max_new_tokens,
        "greedy": True, "engine": engine_version(python), "seconds": seconds,
    }
    write_json(args.out, result)
    table = Table(title=f"HF vs vLLM, {len(items)} arith validation items, {result['dtype']}, greedy")
    for col in ("model", "same grade", "same text", "accuracy HF", "accuracy vLLM"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for label, m in by_model.items():
        table.add_row(label, f"{m['same_grade']:.1%}", f"{m['same_text']:.1%}",
                      f"{m['accuracy_hf']:.3f}", f"{m['accuracy_vllm']:.3f}")
    Console().print(table)
    print(f"written {args.out}")


if __name__ == "__main__":  # vLLM's engine is a separate process, but keep the guard anyway
    main()
