"""The data-generator agent (role `generator`): turns each error analysis into new practice
samples of the same kind, with worked solutions, and keeps the raw reply beside them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from lai.agents.prompting import call_batch, load_prompt
from lai.tools.jsonl import write_jsonl
from lai.tools.tasks.base import Task


def samples_per_error(budget: int, n_errors: int) -> int:
    """The paper's count rule: ceil(budget / #errors) + 1 samples asked for each error."""
    if n_errors <= 0:
        return 0
    return math.ceil(budget / n_errors) + 1


def generation_prompt(task: Task, analysis: dict, n: int) -> str:
    text = (f"Diagnosis: {analysis['diagnosis']}\nCategory: {analysis['category']}\n"
            f"Skill: {analysis['skill']}")
    return load_prompt(f"generator_{task.family}").format(
        error=task.show(analysis["item"], analysis["response"]), analysis=text, n=n
    )


class DataGenerator:
    def __init__(self, llm: Any, task: Task, concurrency: int = 4):
        self.llm, self.task, self.concurrency = llm, task, concurrency

    def generate(
        self, analyses: list[dict], budget: int, out_path: Path, calls_path: Path,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, int]:
        """Ask for `samples_per_error` samples per analysed error; write them (unverified) to
        `out_path` and every prompt and raw reply to `calls_path`. Returns counts."""
        usable = [a for a in analyses if a.get("ok")]
        n = samples_per_error(budget, len(usable))
        prompts = [generation_prompt(self.task, a, n) for a in usable]
        samples, calls, unparsed = [], [], 0
        for analysis, prompt, (reply, error) in zip(
            usable, prompts, call_batch(self.llm, prompts, self.concurrency, progress)
        ):
            items = self.task.parse(reply) if reply else []
            unparsed += not items
            calls.append({"error_id": analysis["error_id"], "prompt": prompt, "reply": reply,
                          "call_error": error, "n_parsed": len(items)})
            for k, item in enumerate(items):
                item["id"] = f"{analysis['error_id']}/g{k}"
                # A reply rarely restates the skill tag: the sample practises its error's skill.
                item["skill"] = item.get("skill") or analysis["item"].get("skill")
                samples.append({**item, "source_error": analysis["error_id"]})
        write_jsonl(calls_path, calls)
        write_jsonl(out_path, samples)
        return {"requested": n * len(usable), "generated": len(samples),
                "generation_unparsed": unparsed}
