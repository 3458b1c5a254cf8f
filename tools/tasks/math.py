"""Numeric math word problems from files: GSM8K, GSM-Plus and any GSM8K-format JSONL/JSON.

Answers are read and compared as `answers.py` defines for every math task: the paper's rule
(the answer after the last `####`, else the last number of the reply), fractions included
(GSM-Plus has six fraction answers). A gold answer that is not a number (GSM-Plus "critical
thinking" items answer e.g. "None") is kept by default and graded by normalized text;
option `non_numeric: skip` leaves such rows out instead, counted in `split_info()`.

Items may carry `python`: a short program that computes the answer into a variable `answer`
(`answers.python_answer`); verification runs it in the sandbox and compares with `target`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from lai.tools.errors import LaiError
from lai.tools.sources import RowError, RowSkip, SourcedTask, get_field, item_id, optional_text
from lai.tools.tasks.answers import (
    INSTRUCTION, answers_equal, canonical_target, extract_answer, is_numeric, python_matches,
    working_and_answer,
)
from lai.tools.tasks.base import Item, Messages, Task, register_task
from lai.tools.tasks.blocks import cut_blocks, open_block, parse_blocks, split_question
from lai.tools.tasks.numeric import check_equations

MATH_CATEGORIES = (
    "no final answer", "misread question", "wrong operation", "missed a step",
    "stopped early", "unit conversion", "arithmetic slip", "wrong formula or setup",
)
"""The error categories the analyst picks from (fills `{categories}` in the prompts)."""

_CALC = re.compile(r"<<[^>]*>>")
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def strip_calculator(text: str) -> str:
    """GSM8K's calculator annotations removed: `16 - 3 = <<16-3=13>>13` → `16 - 3 = 13`."""
    return _CALC.sub("", text)


# ---------------------------------------------------------------- parsing


def _pull_python(block: str) -> tuple[str, str | None]:
    """The block without its code fences (and a `Python:` label), and the first fence's code."""
    code = None
    for m in _FENCE.finditer(block):
        if code is None and m[1].lower() in ("", "python", "py", "python3"):
            code = m[2].strip() or None
    block = _FENCE.sub("\n", block)
    block = re.sub(r"^[ \t>*\-]*(?:python(?:\s+(?:code|program|solution))?|code|program)\s*:[ \t]*$",
                   "", block, flags=re.I | re.M)
    return block, code


def parse_math_block(block: str) -> tuple[dict | None, str]:
    """One problem block → `{question, answer, target[, skill, python]}` or `(None, reason)`."""
    block, python = _pull_python(block)
    block, skill = open_block(block)
    item: dict = {"skill": skill} if skill else {}
    question, rest = split_question(block)
    if not question:
        return None, rest
    if (found := working_and_answer(rest)) is None:
        return None, "no final '#### <number>' line"
    body, target = found
    item.update(question=question, answer="\n".join([*body, f"#### {target}"]), target=target)
    if python:
        item["python"] = python
    return item, "ok"


def _normalize_question(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", (text or "").lower()).split())


# ---------------------------------------------------------------- tasks


@register_task("math_jsonl")
class MathTask(SourcedTask, Task):
    """Math word problems with a numeric final answer, from any GSM8K-format file.

    Rows: `question`, `answer` (worked solution ending `#### N`; calculator annotations
    `<<...>>` are dropped) and optionally `target` (else GSM-Plus' `extracted_answer`, else
    the `####` number), `python`, `skill` (else `type`), `id`. Options: see `SourcedTask`,
    plus `non_numeric` (`keep` | `skip`), `check_equations` (verification also checks each
    `a op b = c` written in the solution; off by default, since about 5% of real GSM8K
    solutions trip the checker) and `python_timeout` (seconds per verification program).
    """

    name = "math_jsonl"
    version = 1
    family = "math"
    categories = MATH_CATEGORIES

    def __init__(self, *, non_numeric: str = "keep", check_equations: bool = False,
                 python_timeout: float = 10.0, **options: Any):
        super().__init__(**options)
        if non_numeric not in ("keep", "skip"):
            raise LaiError(f"task {self.name!r}: option non_numeric must be 'keep' or 'skip', "
                           f"got {non_numeric!r}")
        if not isinstance(check_equations, bool):
            raise LaiError(f"task {self.name!r}: option check_equations must be true or false, "
                           f"got {check_equations!r}")
        if isinstance(python_timeout, bool) or not isinstance(python_timeout, (int, float)) \
                or python_timeout <= 0:
            raise LaiError(f"task {self.name!r}: option python_timeout must be a number > 0, "
                           f"got {python_timeout!r}")
        self.non_numeric, self.check_eqs, self.python_timeout = non_numeric, check_equations, python_timeout

    # -------------------------------------------------------------- data

    def convert(self, row: dict, default_id: str) -> Item:
        question = get_field(row, "question")
        answer = strip_calculator(str(get_field(row, "answer", (str, int, float))))
        target = get_field(row, "target", (str, int, float), aliases=("extracted_answer",),
                           required=False)
        if target is None or (isinstance(target, str) and not target.strip()):
            target = extract_answer(answer) if "####" in answer else None
            if target is not None and not is_numeric(target):  # keep its case: "None", not "none"
                tail = answer.rsplit("####", 1)[1]
                target = next(ln for ln in tail.splitlines() if ln.strip()).strip(" .*`")
            if target is None:
                raise RowError("no final answer: field 'answer' has no '#### <answer>' line and "
                               "there is no 'target' field", field="answer")
        target = canonical_target(target)
        if not is_numeric(target) and self.non_numeric == "skip":
            raise RowSkip("non-numeric answer (non_numeric: skip)")
        if "####" not in answer:
            answer = f"{answer.rstrip()}\n#### {target}"
        item: Item = {"id": item_id(row, default_id, self.name), "question": question.strip(),
                      "answer": answer.strip(), "target": target}
        if (python := get_field(row, "python", required=False)) is not None:
            item["python"] = python
        if skill := optional_text(row, "skill", "type"):
            item["skill"] = skill
        return item

    # -------------------------------------------------------------- target side

    def prompt(self, item: Item) -> Messages:
        return [{"role": "user", "content": f"{item['question']}\n{INSTRUCTION}"}]

    def completion(self, item: Item) -> str:
        return item["answer"]

    def extract(self, response: str, item: Item | None = None) -> str | None:
        return extract_answer(response)

    def grade(self, extracted: str | None, item: Item) -> bool:
        return answers_equal(extracted, item["target"])

    # -------------------------------------------------------------- instructor side

    def show(self, item: Item, response: str | None = None) -> str:
        parts = [("Question", item["question"])]
        if item.get("skill"):
            parts.append(("Skill tag", item["skill"]))
        if response is not None:
            parts += [("Student's answer", response.strip() or "(empty)"),
                      ("Student's final answer", self.extract(response) or "none")]
        parts += [("Correct solution", item["answer"]), ("Correct final answer", str(item["target"]))]
        return "\n\n".join(f"### {header}\n{body}" for header, body in parts)

    def _finish(self, raw: dict) -> Item:
        digest = hashlib.sha1(f"{raw['question']}\n{raw['answer']}".encode()).hexdigest()[:10]
        item = {"id": f"{self.name}-gen-{digest}", "question": raw["question"],
                "answer": raw["answer"], "target": raw["target"]}
        for key in ("skill", "python"):
            if raw.get(key):
                item[key] = raw[key]
        return item

    def parse_with_rejects(self, text: str) -> tuple[list[Item], list[dict]]:
        """Problems in the paper's numbered `Question: / Answer: / #### N` format and variants
        (markdown bold or headings, `### Problem 1`, `Q:`/`A:`, `Final answer: N`), each with an
        optional ```python fence; plus the blocks that could not be read (`{"text", "reason"}`)."""
        return parse_blocks(cut_blocks(text), parse_math_block, self._finish)

    def from_fields(self, d: dict) -> Item | None:
        """An item from a structured sample `{question, solution, answer, python?, skill?}`;
        None when the question or a numeric answer is missing."""
        if not isinstance(d, dict):
            return None
        question, solution = str(d.get("question") or "").strip(), str(d.get("solution") or "").strip()
        answer = d.get("answer")
        if answer is None or str(answer).strip() == "":
            answer = extract_answer(solution) if "####" in solution else None
        if not question or answer is None or not is_numeric(answer):
            return None
        target = canonical_target(answer)
        solution = strip_calculator(solution)
        if "####" not in solution:
            solution = f"{solution}\n#### {target}".strip()
        raw = {"question": question, "answer": solution, "target": target,
               "python": str(d["python"]).strip() if d.get("python") else None,
               "skill": str(d["skill"]).strip() if d.get("skill") else None}
        return self._finish(raw)

    def verify(self, item: Item) -> tuple[bool, str]:
        """The worked solution's final `####` answer equals `target`; its equations hold (with
        `check_equations`); and the item's `python`, if any, computes `target`."""
        if not str(item.get("question") or "").strip():
            return False, "empty question"
        solution, target = str(item.get("answer") or ""), item.get("target")
        if target is None or str(target).strip() == "":
            return False, "no target"
        if "####" not in solution:
            return False, "no final '####' answer in the solution"
        final = extract_answer(solution)
        if not answers_equal(final, target):
            return False, f"target {target} does not match the solution's final answer {final}"
        if self.check_eqs:
            ok, reason = check_equations(solution)
            if not ok and reason != "no equation found":
                return False, reason
        if item.get("python"):
            return python_matches(str(item["python"]), target, self.python_timeout)
        return True, "ok"

    def signature(self, item: Item) -> str:
        """The normalized question text."""
        return _normalize_question(str(item.get("question", "")))


@register_task("gsm8k")
class Gsm8kTask(MathTask):
    """GSM8K. Default: the shared `gsm8k/test.jsonl` (the only GSM8K file here; the paper mines
    the train split) divided by seed into mining/validation/test."""

    name = "gsm8k"
    default_on_bad_row = "skip"
    defaults = {"mining": "gsm8k/test.jsonl", "validation": "gsm8k/test.jsonl",
                "test": "gsm8k/test.jsonl"}


@register_task("gsm_plus")
class GsmPlusTask(MathTask):
    """GSM-Plus (perturbed GSM8K). Default: the shared `gsm8k_plus/test.jsonl`, divided;
    `skill` is the perturbation type, so reports break accuracy down by it."""

    name = "gsm_plus"
    default_on_bad_row = "skip"
    defaults = {"mining": "gsm8k_plus/test.jsonl", "validation": "gsm8k_plus/test.jsonl",
                "test": "gsm8k_plus/test.jsonl"}
