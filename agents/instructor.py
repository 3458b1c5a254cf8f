"""The instructor agent (role `analyst`): names each error the target made.

LE shows the instructor one wrong answer with its question and gold solution; LEC adds the
k nearest questions the target answered correctly, so the instructor can see what separates
them (the paper's two strategies). Replies are parsed into diagnosis, category and skill.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from lai.agents.prompting import call_batch, load_prompt
from lai.tools.jsonl import write_jsonl
from lai.tools.tasks.base import Task

STRATEGIES = ("le", "lec")
DEFAULT_CATEGORIES = (
    "misread question", "wrong method", "calculation error", "missing step", "no final answer",
)
_FIELD = re.compile(r"^\W*(diagnosis|category|skill)\W*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def error_prompt(task: Task, error: dict, strategy: str) -> str:
    """The analyst prompt for one selected error (`error` as written by the select node)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    fields = {
        "error": task.show(error["item"], error["response"]),
        "categories": ", ".join(getattr(task, "categories", DEFAULT_CATEGORIES)),
    }
    if strategy == "lec":
        fields["neighbours"] = "\n---\n".join(
            task.show(n["item"], n["response"]) for n in error.get("neighbours", [])
        ) or "(none)"
    return load_prompt(f"analyst_{strategy}").format(**fields)


def parse_analysis(reply: str) -> dict[str, str] | None:
    """`Diagnosis:`, `Category:` and `Skill:` fields of a reply; None without a diagnosis."""
    found: dict[str, str] = {}
    for key, value in _FIELD.findall(reply or ""):
        found.setdefault(key.lower(), value.strip().strip("*").strip())
    if "diagnosis" not in found:
        return None
    return {"diagnosis": found["diagnosis"], "category": found.get("category", "unknown"),
            "skill": found.get("skill", "")}


class Instructor:
    def __init__(self, llm: Any, task: Task, strategy: str, concurrency: int = 4):
        self.llm, self.task, self.strategy, self.concurrency = llm, task, strategy, concurrency

    def analyse(
        self, errors: list[dict], out_path: Path, progress: Callable[[int], None] | None = None
    ) -> dict[str, int]:
        """Write one analysis row per error (prompt and raw reply kept); returns counts."""
        prompts = [error_prompt(self.task, e, self.strategy) for e in errors]
        rows, failed = [], 0
        for error, prompt, (reply, call_error) in zip(
            errors, prompts, call_batch(self.llm, prompts, self.concurrency, progress)
        ):
            analysis = parse_analysis(reply) if reply is not None else None
            failed += analysis is None
            rows.append({
                "error_id": error["id"], "strategy": self.strategy, "item": error["item"],
                "response": error["response"],
                "neighbour_ids": [n["item"]["id"] for n in error.get("neighbours", [])],
                "prompt": prompt, "reply": reply, "call_error": call_error,
                "ok": analysis is not None, **(analysis or {}),
            })
        write_jsonl(out_path, rows)
        return {"analysed": len(rows) - failed, "analysis_failed": failed}
