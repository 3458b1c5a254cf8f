"""The data-generator agent (role `generator`, checked by tools and the optional `judge`).

For each analysed error (or, for the paper's "mimic" baseline, each error's question alone)
it asks for new practice samples of the same kind. Every sample is checked before it is
accepted: the task's own verifier (for math: the worked solution, the task's solver where
it has one, and the sample's Python solution run in the sandbox; for code: its tests), then,
when configured, the judge answering it blind. Failed samples go back to the generator with
the failure as feedback, a bounded number of times. Every version of every sample is kept:
accepted in `generated.jsonl`, failed in `generation_rejects.jsonl` with the reason.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Callable

from lai.agents.allocation import samples_per_error
from lai.agents.llm_client import RoleClient, run_all
from lai.agents.prompting import load_prompt
from lai.agents.replies import format_details, parse_samples, samples_schema
from lai.tools.jsonl import write_jsonl
from lai.tools.tasks.base import Item, Task

JUDGED_FAMILIES = ("math", "multiple_choice")  # code is checked by running its tests


def generation_prompt(task: Task, source: dict, n: int, mimic: bool = False) -> str:
    """For an analysis row; with `mimic`, for a selected error shown without the wrong answer."""
    task = task.for_item(source["item"])
    if mimic:
        return load_prompt(f"generator_mimic_{task.family}").format(error=task.show(source["item"]), n=n)
    text = (f"Diagnosis: {source['diagnosis']}\nCategory: {source['category']}\n"
            f"Skill: {source['skill']}\nDetails: {format_details(source.get('details') or {})}")
    return load_prompt(f"generator_{task.family}").format(
        error=task.show(source["item"], source["response"]), analysis=text, n=n)


def judge_prompt(task: Task, item: Item) -> str:
    task = task.for_item(item)
    question = item["question"]
    if item.get("choices"):
        question += "\n" + "\n".join(f"{k}. {v}" for k, v in item["choices"].items())
    return load_prompt(f"judge_{task.family}").format(question=question)


def repair_feedback(failures: list[tuple[Item, str, str]], unreadable: list[dict], any_read: bool) -> str:
    """What goes back to the generator: each failed sample with why, and each sample that could
    not be read (the others in the reply were), so it writes the missing ones again."""
    lines = [f"- {item['question'][:200]!r}: {reason}" for item, _, reason in failures]
    if any_read:
        lines += [f"- a sample that could not be read ({u['reason']}): {u['text'][:200]!r}" for u in unreadable]
    elif unreadable:
        lines.append("- no sample could be read from your reply: " + unreadable[0]["reason"])
    return "\n".join(lines)


class DataGenerator:
    def __init__(self, client: RoleClient, task: Task, *, judge: RoleClient | None = None,
                 max_repairs: int = 2, mimic: bool = False):
        self.client, self.task, self.judge = client, task, judge
        self.max_repairs, self.mimic = max_repairs, mimic

    def generate(
        self, sources: list[dict], budget: int, out_path: Path, calls_path: Path,
        rejects_path: Path, progress: Callable[[int], None] | None = None,
        counts: list[int] | None = None,
    ) -> dict[str, int]:
        """Ask for `counts[i]` samples for source i (default: the paper's `samples_per_error`
        for each); write accepted samples, every call, and every rejected sample version.
        Returns counts (rejects by reason)."""
        if counts is None:
            counts = [samples_per_error(budget, len(sources))] * len(sources)
        if len(counts) != len(sources):
            raise ValueError(f"{len(counts)} sample counts for {len(sources)} sources")
        results = run_all([self._for_source(s, n) for s, n in zip(sources, counts)], progress)
        accepted = [s for acc, _, _ in results for s in acc]
        rejected = [r for _, rej, _ in results for r in rej]
        write_jsonl(calls_path, [c for _, _, calls in results for c in calls])
        write_jsonl(rejects_path, rejected)
        write_jsonl(out_path, accepted)
        reasons = Counter(f"generation {r['stage']}" for r in rejected)
        return {"requested": sum(counts), "generated": len(accepted),
                "repaired": sum(s["attempt"] > 0 for s in accepted),
                "generation_calls_failed": sum(c["call_error"] is not None
                                               for _, _, calls in results for c in calls),
                **reasons}

    async def _for_source(self, source: dict, n: int) -> tuple[list[Item], list[dict], list[dict]]:
        """Generate, check, and send failures back for repair (at most `max_repairs` times)."""
        source_id = source.get("error_id") or source["id"]
        task = self.task.for_item(source["item"])  # in a mixed run, the error's own task
        tag = {"task": source["item"]["task"]} if "task" in source["item"] else {}
        messages = [{"role": "user", "content": generation_prompt(self.task, source, n, self.mimic)}]
        accepted, rejected, calls = [], [], []
        for attempt in range(self.max_repairs + 1):
            reply = await self.client.ask(messages, schema=samples_schema(task.family),
                                          purpose="generate" if attempt == 0 else "repair", ref=source_id)
            calls.append({"error_id": source_id, "attempt": attempt, "messages": messages,
                          "reply": reply.text, "call_error": reply.error,
                          "truncated": reply.truncated, "cached": reply.cached})
            if reply.text is None:
                break
            items, unreadable = parse_samples(task, reply.text)
            calls[-1]["n_parsed"] = len(items)
            rejected += [{"source_error": source_id, "attempt": attempt, "stage": "unparsed",
                          "reason": u["reason"], "text": u["text"]} for u in unreadable]
            failures = []
            for item in items:
                item.update(id=f"{source_id}/a{attempt}g{len(accepted) + len(failures)}",
                            skill=item.get("skill") or source["item"].get("skill"),
                            source_error=source_id, attempt=attempt, **tag)
                stage, reason = await self._check(task, item)
                if stage is None:
                    accepted.append({**item, "verified": True})
                else:
                    failures.append((item, stage, reason))
            rejected += [{**item, "stage": stage, "reason": reason} for item, stage, reason in failures]
            if (not failures and not unreadable) or attempt == self.max_repairs or len(accepted) >= n:
                break
            messages = messages + [{"role": "assistant", "content": reply.text},
                                   {"role": "user", "content": load_prompt("repair").format(
                                       failures=repair_feedback(failures, unreadable, any_read=bool(items)))}]
        return accepted, rejected, calls

    async def _check(self, task: Task, item: Item) -> tuple[str | None, str]:
        """(None, "ok") when the sample passes; else the failed stage and why."""
        ok, reason = await asyncio.to_thread(task.verify, item)  # may run the sandbox
        if not ok:
            return "verification", reason
        if self.judge is None or task.family not in JUDGED_FAMILIES:
            return None, "ok"
        reply = await self.judge.ask([{"role": "user", "content": judge_prompt(task, item)}],
                                     purpose="judge", ref=item["id"])
        if reply.text is None:
            return "judge", f"judge call failed: {reply.error}"
        answer = task.extract(reply.text)
        if not task.grade(answer, item):
            return "judge", f"judge answered {answer!r}, the sample's key is {item.get('target')!r}"
        return None, "ok"
