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

from lai.tools.tasks.arith import SKILLS, ArithTask, count_borrows, count_carries, operands_from_solution
from lai.tools.tasks.numeric import extract_last_number

MODEL_NAME = "offline-rule-based-instructor (arith only)"
UNREADABLE = ("Diagnosis: offline rule-based instructor could not read this prompt "
              "(it only understands the arith analyst and generator prompts)\n"
              "Category: unknown\nSkill: unknown")
_SECTION = re.compile(r"^### (Question|Skill tag|Student's answer|Student's final answer|"
                      r"Correct solution|Correct final answer)[ \t]*$", re.M)
_COLUMNS = {1: "tens", 2: "hundreds", 3: "thousands", 4: "ten-thousands"}


@dataclass
class _Case:
    """One problem as read back from `ArithTask.show` text."""

    question: str
    skill: str | None
    operands: list[int] | None
    student: float | None  # the student's final answer; None when there is none
    gold: float


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


def _read_case(block: str) -> _Case | None:
    pieces = _SECTION.split(block)
    sec = {pieces[i]: pieces[i + 1].strip() for i in range(1, len(pieces) - 1, 2)}
    gold = extract_last_number(sec.get("Correct final answer"))
    if not sec.get("Question") or gold is None:
        return None
    skill = sec.get("Skill tag") if sec.get("Skill tag") in SKILLS else None
    operands = operands_from_solution(skill, sec.get("Correct solution", "")) if skill else None
    if "Student's final answer" in sec:
        student = extract_last_number(sec["Student's final answer"])
    else:
        student = extract_last_number(sec.get("Student's answer"))
    return _Case(sec["Question"], skill, operands, None if student is None else float(student), float(gold))


def _num(v: float) -> str:
    return str(int(v)) if v == int(v) else f"{v:g}"


def _powers_of_ten(d: float) -> list[int] | None:
    """[k, ...] when |d| is a sum of distinct 10^k (k >= 1): the trace of dropped carries."""
    if d != int(d) or d == 0:
        return None
    digits = str(abs(int(d)))[::-1]
    if digits[0] != "0" or set(digits) - {"0", "1"}:
        return None
    return [k for k, ch in enumerate(digits) if ch == "1"]


def _columns(ks: list[int]) -> str:
    names = [_COLUMNS.get(k, f"10^{k}") for k in ks]
    return " and ".join(names) + (" columns" if len(names) > 1 else " column")


def _digitwise(a: int, b: int, f) -> int:
    width = max(len(str(a)), len(str(b)))
    da, db = str(a).zfill(width), str(b).zfill(width)
    return int("".join(str(f(int(x), int(y))) for x, y in zip(da, db)))


def _regrouping(a: int, b: int, op: str, v: float, g: float) -> str | None:
    """A carry or borrow slip in `a op b`, described, or None."""
    if op == "+":
        if v == _digitwise(a, b, lambda x, y: (x + y) % 10):
            return f"In {a} + {b} every carry was dropped, giving {_num(v)} instead of {_num(g)}."
        ks = _powers_of_ten(g - v) if v < g else None
        if ks:
            return (f"In {a} + {b} the carry into the {_columns(ks)} was dropped, "
                    f"giving {_num(v)} instead of {_num(g)}.")
    else:
        if v == _digitwise(a, b, lambda x, y: abs(x - y)):
            return (f"In {a} - {b} the smaller digit was taken from the larger one in a column "
                    f"instead of borrowing, giving {_num(v)} instead of {_num(g)}.")
        ks = _powers_of_ten(v - g)
        if ks:
            how = "was not taken off" if v > g else "was taken off twice"
            return (f"In {a} - {b} the borrow from the {_columns(ks)} {how}, "
                    f"giving {_num(v)} instead of {_num(g)}.")
    return None


def _other_ops(a: int, b: int) -> dict[str, float]:
    out = {"+": a + b, "-": a - b, "*": a * b}
    if b and a % b == 0:
        out["/"] = a // b
    return out


def diagnose(c: _Case) -> tuple[str, str]:
    """Rule-based diagnosis of one wrong answer: (sentence, category from ARITH_CATEGORIES)."""
    if c.student is None:
        return ("The student never wrote a final line '#### <number>', so there is no answer to "
                "grade; the working must end with the result on its own line."), "no final answer"
    v, g, x, s = c.student, c.gold, c.operands or [], c.skill
    if v == g:
        return "The final number is right but the written working around it is not.", "arithmetic slip"
    verbs = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}
    if s == "two_step" and x:
        first = x[0] + x[1]
        if v == first:
            return (f"The student did the first step {x[0]} + {x[1]} = {first} and stopped there, never "
                    f"taking away {x[2]} ({first} - {x[2]} = {_num(g)})."), "stopped early"
        if v in (first + x[2], x[0] - x[1] - x[2], x[0] - x[1] + x[2]):
            return (f"The student combined {x[0]}, {x[1]} and {x[2]} with the wrong operations, getting "
                    f"{_num(v)}: the problem adds {x[1]} and then takes away {x[2]}."), "wrong operation"
        slip = _regrouping(x[0], x[1], "+", v + x[2], first) or _regrouping(first, x[2], "-", v, g)
        if slip:
            return slip, "carry or borrow slip"
    if s == "time" and x:
        h, m = x
        if v == h * 60:
            return (f"The student turned {h} hours into {h * 60} minutes but never added the {m} "
                    f"minutes ({h * 60} + {m} = {_num(g)})."), "stopped early"
        if v in (h + m, h * 100 + m, g / 60) or v == g * 60:
            return (f"The student did not convert hours to minutes correctly: {h} hours is "
                    f"{h} * 60 = {h * 60} minutes, so the total is {_num(g)} minutes, "
                    f"not {_num(v)}."), "unit conversion"
    if s == "money" and x:
        p, q = x
        if v * 100 == g or v == g * 100 or v == p * q / 100:
            return (f"The student gave the amount in the wrong unit: the question asks for cents, and "
                    f"{q} items at {p} cents are {_num(g)} cents, not {_num(v)}."), "unit conversion"
        if v == p:
            return (f"The student found the price of one item ({p} cents) but never multiplied it by "
                    f"the {q} items."), "stopped early"
    pair = {"add_carry": "+", "sub_borrow": "-", "mul": "*", "div": "/", "money": "*"}.get(s or "")
    if pair and x:
        a, b = x
        for op, val in _other_ops(a, b).items():
            if op != pair and v == val:
                return (f"The student computed {a} {op} {b} = {_num(val)} instead of {a} {pair} {b} = "
                        f"{_num(g)}: the problem asks to {verbs[pair]}, not to {verbs[op]}.",
                        "wrong operation")
        if pair in "+-" and (slip := _regrouping(a, b, pair, v, g)):
            return slip, "carry or borrow slip"
    if abs(v - g) < 10 or abs(v - g) <= 0.05 * abs(g):
        return (f"The method is right but a calculation slipped: the answer {_num(v)} is off by "
                f"{_num(abs(v - g))} from {_num(g)}."), "arithmetic slip"
    if v in x or _num(v) in re.findall(r"\d+", c.question):
        return (f"The answer {_num(v)} is just a number copied from the question; the student did "
                f"not work out what was asked."), "misread question"
    return (f"The answer {_num(v)} does not follow from the numbers in the problem; the correct "
            f"working gives {_num(g)}."), "wrong computation"


def _features(c: _Case) -> dict[str, int]:
    x = c.operands or []
    f = {"digits": max((len(str(v)) for v in x), default=0), "regroup": 0, "zero": 0,
         "steps": 2 if c.skill in ("two_step", "money", "time") else 1}
    if c.skill == "add_carry" and x:
        f["regroup"] = count_carries(*x)
    if c.skill == "sub_borrow" and x:
        f["regroup"] = count_borrows(*x)
        f["zero"] = int("0" in str(x[0])[:-1] and f["regroup"] > 0)
    if c.skill == "two_step" and x:
        f["regroup"] = count_carries(x[0], x[1]) + count_borrows(x[0] + x[1], x[2])
    return f


def contrast(c: _Case, neighbours: list[_Case]) -> str:
    """What the failed problem demands that the correctly solved neighbours do not (LEC)."""
    if not neighbours:
        return "No solved neighbours could be read to compare with."
    same = [n for n in neighbours if n.skill == c.skill]
    reasons = []
    if not same:
        others = ", ".join(sorted({n.skill or "unknown" for n in neighbours}))
        reasons.append(f"they practise other skills ({others}) while this one is {c.skill or 'unknown'}")
        same = neighbours
    mine, theirs = _features(c), [_features(n) for n in same]
    word = "carries" if c.skill == "add_carry" else "borrows" if c.skill == "sub_borrow" else "regroupings"
    top = lambda key: max(t[key] for t in theirs)  # noqa: E731
    if mine["regroup"] > top("regroup"):
        reasons.append(f"it needs {mine['regroup']} {word} while they needed at most {top('regroup')}")
    if mine["zero"] and not any(t["zero"] for t in theirs):
        reasons.append("it borrows across a zero, which none of them does")
    if mine["digits"] > top("digits"):
        reasons.append(f"it uses {mine['digits']}-digit numbers while they used at most {top('digits')} digits")
    if mine["steps"] > top("steps"):
        reasons.append("it takes two steps while they take one")
    if not reasons:
        return ("The solved problems are just as demanding (same skill, similar numbers), so this "
                "is a lapse in a step the student can already do.")
    return "Unlike the solved problems: " + "; ".join(reasons) + "."


def analyst_reply(prompt: str) -> str:
    """The three-line analysis for an LE or LEC analyst prompt."""
    parts = _prompt_parts(prompt)
    case = _read_case(parts.get("error", ""))
    if case is None:
        return UNREADABLE
    diagnosis, category = diagnose(case)
    if "neighbours" in parts:
        blocks = re.split(r"^(?:---+|#### Neighbour.*)[ \t]*$", parts["neighbours"], flags=re.M)
        neighbours = [n for b in blocks if (n := _read_case(b))]
        diagnosis = f"{diagnosis} {contrast(case, neighbours)}"
    return f"Diagnosis: {diagnosis}\nCategory: {category}\nSkill: {case.skill or 'unknown'}"


def generator_reply(prompt: str, task: ArithTask) -> str:
    """`n` numbered practice problems of the failed problem's skill, for a generator prompt."""
    parts = _prompt_parts(prompt)
    n = re.search(r"Write (\d+) new problems", parts.get("instructions", prompt))
    case = _read_case(parts.get("error", ""))
    skill = case.skill if case else None
    if skill is None and (m := re.search(r"^Skill:\s*(\w+)", parts.get("analysis", ""), re.M)):
        skill = m[1] if m[1] in SKILLS else None
    if not n or skill is None:
        return UNREADABLE
    like = {"skill": skill, "operands": case.operands} if case and case.operands else None
    seed = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)
    items = task.sample(min(int(n[1]), 200), seed=seed, skill=skill, like=like)
    return "\n\n".join(f"{k}. Question: {it['question']}\nAnswer: {it['answer']}"
                       for k, it in enumerate(items, 1))


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
