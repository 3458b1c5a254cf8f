"""Evaluator throughput vs the paper's way of evaluating.

Baseline: a transformers text-generation pipeline called one prompt at a time (how the
paper's scripts query the target). Ours: the evaluator's batched, length-sorted, left-padded
greedy decoding with KV cache. Same 64 prompts, same model, same dtype, same max_new_tokens;
prints the speed ratio and whether both grade every item the same.

    python bench/eval_throughput.py [--n 64] [--max-new-tokens 192] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import pipeline

from lai.graph.config import default_cache_dir
from lai.tools.generation import GenerationConfig, HFBackend
from lai.tools.tasks import get_task
from lai.training.target import best_dtype, load_target, resolve_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=192)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    args = ap.parse_args()

    task = get_task("arith")
    items = task.load("validation")[: args.n]
    model_path = resolve_model(args.model, default_cache_dir())
    dtype = best_dtype()
    model, tokenizer = load_target(model_path, dtype=dtype)
    cfg = GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    print(f"model {args.model}, dtype {dtype}, {len(items)} prompts, max_new_tokens "
          f"{cfg.max_new_tokens}, threads {torch.get_num_threads()}")

    pipe = pipeline("text-generation", model=model, tokenizer=tokenizer)
    t0 = time.perf_counter()
    base_replies = [
        pipe(task.prompt(it), max_new_tokens=cfg.max_new_tokens, do_sample=False,
             return_full_text=False)[0]["generated_text"].strip()
        for it in items
    ]
    t_base = time.perf_counter() - t0

    t0 = time.perf_counter()
    ours = HFBackend(model, tokenizer, cfg).generate([task.prompt(it) for it in items])
    t_ours = time.perf_counter() - t0

    grade = lambda reply, it: task.grade(task.extract(reply), it)  # noqa: E731
    base_ok = [grade(r, it) for r, it in zip(base_replies, items)]
    our_ok = [grade(r, it) for r, it in zip(ours, items)]
    same_grade = sum(a == b for a, b in zip(base_ok, our_ok))
    same_text = sum(a == b for a, b in zip(base_replies, ours))
    print(f"pipeline, one at a time: {t_base:7.1f} s  accuracy {sum(base_ok)}/{len(items)}")
    print(f"evaluator, batched:      {t_ours:7.1f} s  accuracy {sum(our_ok)}/{len(items)}")
    print(f"speed-up: {t_base / t_ours:.1f}x")
    print(f"same grade: {same_grade}/{len(items)}; identical text: {same_text}/{len(items)}")


if __name__ == "__main__":
    main()
