"""Stand-ins for the two slow things around the loop, for tests that run the real graph in
seconds: a target whose answers and training follow a rule, and a scripted instructor.

- `FakeTarget` answers an item right unless its skill is weak and not yet learned; training
  "learns" the skills of the round's kept samples (read next to `train.jsonl`), on top of
  the adapter it starts from. Its adapters are folders with a `fake_adapter.json`.
- `ScriptedInstructor` is a langchain chat model: the analyst names the error's skill, the
  generator writes fresh `arith` problems of the skill the analysis names, in the paper's
  numbered `Question: / Answer: / #### N` format.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from lai.agents.llm import RoleSpec
from lai.agents.llm_client import RoleClient
from lai.tools.jsonl import read_jsonl, write_json
from lai.tools.tasks.arith import ArithTask
from lai.training.jobs import TrainingFailed

ADAPTER_FILE = "fake_adapter.json"


class FakeBackend:
    """Answers each prompt with the item's gold solution, or with a wrong final answer."""

    def __init__(self, target: "FakeTarget", learned: set[str]):
        self.target, self.learned = target, learned

    def generate(self, conversations, progress=None):
        replies = []
        for messages in conversations:
            item = self.target.by_prompt[messages[-1]["content"]]
            right = item.get("skill") not in self.target.weak or item.get("skill") in self.learned
            replies.append(item["answer"] if right else f"I add them up.\n#### {int(item['target']) + 1}")
        if progress:
            progress(len(conversations))
        return replies


class FakeTarget:
    """Right on every skill but `weak` ones, until an adapter trained on them is applied.

    `fail_rounds`: rounds whose training raises `TrainingFailed`; `forget_rounds`: rounds whose
    adapter unlearns everything (worse than the best: `decide` must roll it back)."""

    def __init__(self, task: ArithTask, weak: set[str], fail_rounds=(), forget_rounds=()):
        self.weak, self.fail_rounds, self.forget_rounds = weak, set(fail_rounds), set(forget_rounds)
        self.by_prompt = {task.prompt(it)[-1]["content"]: it
                          for split in ("mining", "validation", "test") for it in task.load(split)}
        self.backends: list[str | None] = []
        """The adapter of every evaluation, in order."""
        self.jobs: list[dict] = []

    def backend(self, adapter):
        self.backends.append(adapter)
        return FakeBackend(self, set(learned_skills(adapter)))

    def train(self, job, job_path, stdout_path, on_progress):
        self.jobs.append(job)
        round_ = int(Path(job["out_dir"]).parent.name.removeprefix("iter_"))
        if round_ in self.fail_rounds:
            raise TrainingFailed("fake: out of memory")
        rows = read_jsonl(job["train_path"])
        kept = read_jsonl(Path(job["train_path"]).with_name("kept.jsonl"))
        learned = set() if round_ in self.forget_rounds else (
            set(learned_skills(job["init_adapter"])) | {s["skill"] for s in kept if s.get("skill")})
        out = Path(job["out_dir"])
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / ADAPTER_FILE, {"learned": sorted(learned), "rows": len(rows)})
        summary = {"done": True, "steps": len(rows), "train_loss": 0.25}
        on_progress(summary)
        return summary


def learned_skills(adapter: str | None) -> list[str]:
    return json.loads((Path(adapter) / ADAPTER_FILE).read_text())["learned"] if adapter else []


class ScriptedInstructor(BaseChatModel):
    """Analyst and generator by rule: see the module docstring. Deterministic: a generator
    reply depends only on its prompt."""

    task: Any
    per_call: int = 3

    @property
    def _llm_type(self) -> str:
        return "scripted-instructor"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        prompt = messages[-1].content
        if "## Analysis" in prompt:  # the generator's prompt shows the analysis
            skill = re.search(r"^Skill: (\w+)", prompt, re.M)[1]
            seed = int(hashlib.sha1(prompt.encode()).hexdigest()[:8], 16)
            items = self.task.sample(self.per_call, seed=seed, skill=skill)
            reply = "\n\n".join(f"{i}. Question: {it['question']}\nAnswer: {it['answer']}"
                                for i, it in enumerate(items, 1))
        else:
            skill = re.search(r"### Skill tag\n(\w+)", prompt)[1]
            reply = json.dumps({"diagnosis": f"the student slips on {skill} problems",
                                "category": "arithmetic slip", "skill": skill})
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])


def scripted_clients(task: ArithTask, **kwargs) -> dict[str, RoleClient]:
    """Analyst and generator role clients around one `ScriptedInstructor` (no cache, no retries)."""
    llm = ScriptedInstructor(task=task)
    spec = RoleSpec(model="scripted:instructor", concurrency=2, max_retries=0)
    return {role: RoleClient(role, spec, llm, **kwargs) for role in ("analyst", "generator")}
