"""The offline rule-based instructor: a stand-in instructor LLM for the built-in `arith` task only.

It is a langchain chat model that reads the very prompts a real instructor gets
(`prompts/analyst_le_math.txt`, `analyst_lec_math.txt`, `generator_math.txt`,
`generator_mimic_math.txt`) and answers in text, so an
offline run goes through the same prompts, parsing, verification, cache and traces as a run
with a real LLM. Its analyses come from fixed rules and its problems from `ArithTask.sample`;
it knows nothing of other tasks, and every reply is deterministic in its prompt.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from lai.agents.arith_diagnosis import Case, contrast, diagnose
from lai.agents.replies import format_details, parse_details
from lai.tools.tasks.arith import SKILLS, ArithTask, operands_from_solution, phrasing_of
from lai.tools.tasks.answers import extract_answer

MODEL_NAME = "offline-rule-based-instructor (arith only)"
UNREADABLE = ("Diagnosis: offline rule-based instructor could not read this prompt "
              "(it only understands the arith analyst and generator prompts)\n"
              "Category: unknown\nSkill: unknown")
_SECTION = re.compile(r"^### (Question|Skill tag|Student's answer|Student's final answer|"
                      r"Correct solution|Correct final answer)[ \t]*$", re.M)


def _prompt_parts(prompt: str) -> dict[str, str]:
    """The prompt's `## ` sections, keyed error / neighbours / analysis / instructions."""
    parts: dict[str, list[str]] = {}
    key = "preamble"
    for line in prompt.splitlines():
        m = re.fullmatch(r"## (\S.*)", line.strip())
        title = m[1].lower() if m else ""
        new = ("error" if title.startswith(("error", "example")) else
               "neighbours" if title.startswith("similar") or "solved correctly" in title else
               "analysis" if title.startswith("analysis") else
               "instructions" if title.startswith("what to write") else None)
        if new:
            key = new
            continue
        parts.setdefault(key, []).append(line)
    return {k: "\n".join(v).strip() for k, v in parts.items()}


def _read_case(block: str) -> Case | None:
    pieces = _SECTION.split(block)
    sec = {pieces[i]: pieces[i + 1].strip() for i in range(1, len(pieces) - 1, 2)}
    gold = extract_answer(sec.get("Correct final answer"))
    if not sec.get("Question") or gold is None:
        return None
    skill = sec.get("Skill tag") if sec.get("Skill tag") in SKILLS else None
    operands = operands_from_solution(skill, sec.get("Correct solution", "")) if skill else None
    if "Student's final answer" in sec:
        student = extract_answer(sec["Student's final answer"])
    else:
        student = extract_answer(sec.get("Student's answer"))
    return Case(sec["Question"], skill, operands, None if student is None else float(student),
                float(gold), working=sec.get("Student's answer", ""),
                phrasing=phrasing_of(skill, sec["Question"]) if skill else None)


def analyst_reply(prompt: str) -> str:
    """The analysis for an LE or LEC analyst prompt: diagnosis, category, skill, details."""
    parts = _prompt_parts(prompt)
    case = _read_case(parts.get("error", ""))
    if case is None:
        return UNREADABLE
    found = diagnose(case)
    diagnosis, details = found.sentence, dict(found.details)
    if "neighbours" in parts:
        blocks = re.split(r"^(?:---+|#### Neighbour.*)[ \t]*$", parts["neighbours"], flags=re.M)
        neighbours = [n for b in blocks if (n := _read_case(b))]
        sentence, kind = contrast(case, neighbours)
        diagnosis, details["contrast"] = f"{diagnosis} {sentence}", kind
    if case.phrasing is not None:
        details["phrasing"] = case.phrasing
    return (f"Diagnosis: {diagnosis}\nCategory: {found.category}\nSkill: {case.skill or 'unknown'}\n"
            f"Details: {format_details(details)}")


@dataclass
class Practice:
    """One batch of practice problems: how many, of which skill, shaped like what, aimed at what."""

    n: int
    skill: str
    like: dict | None = None
    phrasing: int | None = None
    focus: dict | None = None


def plan_practice(analysis: dict, case: Case | None, n: int) -> list[Practice]:
    """The practice an analysis calls for. The category and its details decide the problems:
    a missed borrow in the tens gets subtractions that borrow in the tens (a third across a
    zero); stopping early gets problems that need the missing step; a wrong operation gets
    the same phrasing the student misread. With LEC's contrast (`details.contrast`), slips in
    regrouping become minimal pairs: same phrasing and size, one needing the regrouping the
    error missed and one not."""
    details = analysis.get("details") or {}
    category, skill = analysis.get("category", ""), analysis.get("skill")
    like = {"skill": case.skill, "operands": case.operands} if case and case.operands else None
    phrasing = details.get("phrasing") if isinstance(details.get("phrasing"), int) else None
    contrast_kind = details.get("contrast")
    col = details.get("column_index")
    if category in ("carry slip", "borrow slip") and isinstance(col, int):
        target = "add_carry" if category == "carry slip" else "sub_borrow"
        key = "carry_column" if category == "carry slip" else "borrow_column"
        shape = like if like and like["skill"] == target else None
        own = phrasing if skill == target else None
        if contrast_kind and contrast_kind != "none":  # LEC: minimal pairs, same phrasing and size
            hard = (n + 1) // 2
            return [Practice(hard, target, shape, own, {key: col}),
                    Practice(n - hard, target, shape, own, {"avoid_column": col})]
        if category == "borrow slip" and not details.get("across_zero"):
            zero = n // 3
            return [Practice(n - zero, target, shape, None, {key: col}),
                    Practice(zero, target, shape, None, {key: col, "across_zero": True})]
        return [Practice(n, target, shape, None, {key: col, **({"across_zero": True} if details.get("across_zero") else {})})]
    if skill not in SKILLS:
        return []
    if category == "wrong operation" or (contrast_kind and contrast_kind not in ("none", "lapse")):
        same = n if contrast_kind else (2 * n + 2) // 3  # LEC: all in the phrasing that failed
        return [Practice(same, skill, like, phrasing), Practice(n - same, skill, like)]
    if category == "no final answer":
        return [Practice(n, skill)]
    return [Practice(n, skill, like, phrasing if contrast_kind else None)]


def generator_reply(prompt: str, task: ArithTask) -> str:
    """`n` numbered practice problems aimed at the analysed slip, for a generator prompt."""
    parts = _prompt_parts(prompt)
    n = re.search(r"Write (\d+) new problems", parts.get("instructions", prompt))
    case = _read_case(parts.get("error", ""))
    analysis = _read_analysis(parts.get("analysis", ""))
    if case and case.skill and analysis.get("skill") not in SKILLS:
        analysis["skill"] = case.skill  # mimic: no analysis, the failed problem's skill
    if not n or analysis.get("skill") not in SKILLS:
        return UNREADABLE
    seed = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)
    items = []
    for k, batch in enumerate(plan_practice(analysis, case, min(int(n[1]), 200))):
        if batch.n > 0:
            items += task.sample(batch.n, seed=seed + k, skill=batch.skill, like=batch.like,
                                 phrasing=batch.phrasing, focus=batch.focus)
    return "\n\n".join(f"{k}. Question: {it['question']}\nAnswer: {it['answer']}"
                       for k, it in enumerate(items, 1))


def _read_analysis(text: str) -> dict:
    fields = dict(re.findall(r"^(Diagnosis|Category|Skill|Details):[ \t]*(.*)$", text, re.M))
    return {"diagnosis": fields.get("Diagnosis", ""), "category": fields.get("Category", "").strip(),
            "skill": fields.get("Skill", "").strip(), "details": parse_details(fields.get("Details", ""))}


class OfflineArithInstructor(BaseChatModel):
    """The offline rule-based instructor (arith only) as a langchain chat model.

    Plays both the `analyst` and the `generator` role; a prompt it cannot read gets a reply
    saying so, never an exception. Example:

        llm = OfflineArithInstructor(task_options={"seed": 0})
        llm.invoke(prompt_text).content
    """

    task_options: dict[str, Any] = {}
    """Options of the run's `ArithTask`, so generated problems avoid its validation and test items."""
    model_name: str = MODEL_NAME
    _task: ArithTask | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "offline-arith"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "task_options": self.task_options}

    def reply(self, prompt: str) -> str:
        """The text answer to one filled prompt."""
        if self._task is None:
            self._task = ArithTask(**self.task_options)
        try:
            if re.search(r"Write \d+ new problems", prompt):
                return generator_reply(prompt, self._task)
            if "## What to write" in prompt and '"diagnosis"' in prompt:
                return analyst_reply(prompt)
        except Exception as e:  # a stand-in LLM answers badly rather than crash the run
            return f"{UNREADABLE}\n({type(e).__name__}: {e})"
        return UNREADABLE

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        prompt = "\n\n".join(m.content if isinstance(m.content, str) else str(m.content) for m in messages)
        message = AIMessage(content=self.reply(prompt), response_metadata={"model_name": self.model_name})
        return ChatResult(generations=[ChatGeneration(message=message)],
                          llm_output={"model_name": self.model_name})
