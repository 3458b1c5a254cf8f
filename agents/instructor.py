"""The instructor agent (role `analyst`): names each error the target made.

LE shows the instructor one wrong answer with its question and gold solution; LEC adds the
k nearest questions the target answered correctly, so the instructor can see what separates
them (the paper's two strategies). Replies are parsed into diagnosis, category and skill.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from lai.agents.llm_client import RoleClient, run_all
from lai.agents.prompting import load_prompt
from lai.agents.replies import analysis_schema, parse_analysis
from lai.tools.jsonl import write_jsonl
from lai.tools.tasks.base import Task

STRATEGIES = ("le", "lec")
DEFAULT_CATEGORIES = {
    "math": ("misread question", "wrong method", "calculation error", "missing step",
             "no final answer"),
    "multiple_choice": ("knowledge gap", "misread question", "faulty reasoning",
                        "attractive distractor", "no final answer"),
    "code": ("misunderstood specification", "wrong algorithm", "missed edge case",
             "runtime or syntax error", "wrong signature or output format"),
}


def error_prompt(task: Task, error: dict, strategy: str) -> str:
    """The analyst prompt for one selected error (`error` as written by the select node)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    task = task.for_item(error["item"])  # in a mixed run, the error's own task
    categories = task.categories or DEFAULT_CATEGORIES.get(task.family, ())
    fields = {"error": task.show(error["item"], error["response"]), "categories": ", ".join(categories)}
    if strategy == "lec":
        fields["neighbours"] = "\n---\n".join(
            task.show(n["item"], n["response"]) for n in error.get("neighbours", [])
        ) or "(none)"
    return load_prompt(f"analyst_{strategy}_{task.family}").format(**fields)


class Instructor:
    def __init__(self, client: RoleClient, task: Task, strategy: str):
        self.client, self.task, self.strategy = client, task, strategy

    def analyse(
        self, errors: list[dict], out_path: Path, progress: Callable[[int], None] | None = None
    ) -> dict[str, int]:
        """Write one analysis row per error (prompt and raw reply kept); returns counts."""
        prompts = [error_prompt(self.task, e, self.strategy) for e in errors]
        replies = run_all([
            self.client.ask([{"role": "user", "content": p}], schema=analysis_schema(),
                            purpose="analyse", ref=e["id"])
            for e, p in zip(errors, prompts)], progress)
        rows, failed, unparsed = [], 0, 0
        for error, prompt, reply in zip(errors, prompts, replies):
            analysis = parse_analysis(reply.text) if reply.text is not None else None
            failed += reply.error is not None
            unparsed += reply.error is None and analysis is None
            rows.append({
                "error_id": error["id"], "strategy": self.strategy, "item": error["item"],
                "response": error["response"],
                "neighbour_ids": [n["item"]["id"] for n in error.get("neighbours", [])],
                "prompt": prompt, "reply": reply.text, "call_error": reply.error,
                "truncated": reply.truncated, "cached": reply.cached,
                "ok": analysis is not None, **(analysis or {}),
            })
        write_jsonl(out_path, rows)
        return {"analysed": len(rows) - failed - unparsed, "analysis_failed": failed,
                "analysis_unparsed": unparsed}
