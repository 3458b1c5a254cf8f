"""Numeric math word problems from files: GSM8K, GSM-Plus and any GSM8K-format JSONL/JSON.

Grading follows the paper: the answer after the last `####`, else the last number of the
reply, equal to the gold answer within 1e-6 (relative 1e-9 above 1000). A fraction after `####` counts as a
number (`#### 3/2` equals `1.5`; GSM-Plus has six fraction answers), and a decimal written to
at least two places matches a fraction it rounds (`0.33` for `1/3`). A gold answer that is not a number
(GSM-Plus "critical thinking" items answer e.g. "None") is kept by default and graded by
normalized text (lower case, punctuation dropped) of what follows the last `####`; option
`non_numeric: skip` leaves such rows out instead, counted in `split_info()`.

Items may carry `python`: a short program that computes the answer. Convention: it defines a
variable `answer` (or a function `solution()` returning it); verification runs it in the
sandbox and compares the value with `target`. Printing alone does not count.
"""

from __future__ import annotations

import hashlib
import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from lai.tools.errors import LaiError
from lai.tools.sources import RowError, RowSkip, SourcedTask, get_field
from lai.tools.tasks.arith import INSTRUCTION
from lai.tools.tasks.base import parse_blocks, Item, Messages, register_task
from lai.tools.tasks.numeric import (
    _NUMBER, _NUMBERED, _Q_LABEL, _SKILL, _unmark, check_equations, split_question,
)

MATH_CATEGORIES = (
    "no final answer", "misread question", "wrong operation", "missed a step",
    "stopped early", "unit conversion", "arithmetic slip", "wrong formula or setup",
)
"""The error categories the analyst picks from (fills `{categories}` in the prompts)."""

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_FRACTION = re.compile(rf"(?<![\w)./])(-\s?)?\$?({_NUM})\s*/\s*({_NUM})(?![\w/]|\.\d)")
_CALC = re.compile(r"<<[^>]*>>")
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_ANSWER_MARK = "__LAI_ANSWER__="


# ---------------------------------------------------------------- answers


def strip_calculator(text: str) -> str:
    """GSM8K's calculator annotations removed: `16 - 3 = <<16-3=13>>13` → `16 - 3 = 13`."""
    return _CALC.sub("", text)


def _norm_number(num: str, negative: bool = False) -> str | None:
    try:
        d = Decimal(num.replace(",", ""))
    except InvalidOperation:
        return None
    d = -d if negative else d
    return str(int(d)) if d == d.to_integral_value() else f"{d.normalize():f}"


def _fraction_text(m: re.Match) -> str | None:
    num, den = _norm_number(m[2], bool(m[1])), _norm_number(m[3])
    return f"{num}/{den}" if num is not None and den not in (None, "0") else None


def normalize_text_answer(text: str | None) -> str:
    """A non-numeric answer for comparison: lower case, punctuation and extra spaces dropped."""
    return " ".join(re.sub(r"[^\w\s]", " ", (text or "").lower()).split())


def _signed(text: str, m: re.Match) -> str | None:
    """A `_NUMBER` match normalized; its minus sign dropped when it is a binary minus
    (`144 - 72`, `$10 - $3`: the text before it ends with a digit, `)` or `%`)."""
    negative = bool(m["sign"])
    if negative and re.search(r"[\d)%]\s*$", text[: m.start()]):
        negative = False
    return _norm_number(m["num"], negative)


def _first_answer(line: str) -> str | None:
    n = _NUMBER.search(line)
    if not n:
        return None
    f = _FRACTION.search(line)
    number = _signed(line, n)
    return (_fraction_text(f) or number) if f and f.start() == n.start() else number


def extract_answer(text: str | None) -> str | None:
    """The graded final answer of a reply.

    Returns:
        When the reply has `####`: the first number on the first non-empty line after the last
        one (a fraction `a/b` there kept as `"a/b"`), or that line's normalized text when it
        holds no number (`"#### None."` → `"none"`). Otherwise, or when nothing follows
        `####`: the last number of the reply, as the paper grades (a fraction there is not read
        as one: "... 3/4 of it" gives `"4"`). Numbers are normalized as `extract_last_number`
        does (`"$1,234."` → `"1234"`), except that a minus between two numbers (`144 - 72`) is
        not read as a sign. None when there is nothing.
    """
    if not text:
        return None
    text = text.replace("\u2212", "-")
    if "####" in text:
        tail = text.rsplit("####", 1)[1]
        line = next((ln for ln in tail.splitlines() if ln.strip()), "")
        if _NUMBER.search(line):
            return _first_answer(line)
        if line.strip(" .*`"):
            return normalize_text_answer(line) or None
    last = None
    for last in _NUMBER.finditer(text):
        pass
    return _signed(text, last) if last else None


def answer_value(x: object) -> Fraction | None:
    """A number or `a/b` fraction (str, int, float) as an exact Fraction, else None."""
    if x is None or isinstance(x, bool):
        return None
    s = str(x).strip().replace(",", "").replace("$", "")
    try:
        if "/" in s:
            num, den = s.split("/", 1)
            return Fraction(Decimal(num.strip())) / Fraction(Decimal(den.strip()))
        return Fraction(Decimal(s))
    except (InvalidOperation, ValueError, ZeroDivisionError):
        return None


def is_numeric(x: object) -> bool:
    return answer_value(x) is not None


def answers_equal(extracted: object, target: object) -> bool:
    """Whether an extracted answer matches a gold answer.

    Numbers (and fractions) match within 1e-6 (absolute; relative 1e-9 for large numbers, so
    2880001 is not 2880000, unlike `numbers_equal`'s relative 1e-6); a decimal with two or more places
    also matches a fraction target it rounds to (`0.33` ~ `1/3`). A non-numeric target
    matches by normalized text.
    """
    t = answer_value(target)
    if t is None:
        return extracted is not None and normalize_text_answer(str(extracted)) == \
            normalize_text_answer(str(target)) != ""
    e = answer_value(extracted)
    if e is None:
        return False
    if e == t or abs(e - t) <= Fraction(1, 10**6) or abs(e - t) <= abs(t) * Fraction(1, 10**9):
        return True
    written = str(extracted)
    places = len(written.split(".")[1]) if "." in written and "/" not in written else 0
    if "/" in str(target) and places >= 2:
        return abs(float(e) - float(t)) <= 0.5 * 10**-places + 1e-12
    return False


def canonical_target(value: object) -> str:
    """A gold answer as text: numbers normalized (`"1,000.0"` → `"1000"`), fractions `a/b`,
    anything else stripped."""
    s = str(value).strip()
    if "/" in s and answer_value(s) is not None:
        num, den = (p.strip() for p in s.split("/", 1))
        return f"{_norm_number(num) or num}/{_norm_number(den) or den}"
    if answer_value(s) is not None:
        return _norm_number(s.replace("$", "")) or s
    return s


# ---------------------------------------------------------------- python programs


def python_answer_program(program: str) -> str:
    """`program` followed by the lines that print its `answer` (or `solution()`) on a marked line."""
    return (program.rstrip() + "\n\n"
            "def __lai_answer():\n"
            "    g = globals()\n"
            "    if 'answer' in g and not callable(g['answer']):\n"
            "        return g['answer']\n"
            "    if callable(g.get('solution')):\n"
            "        return g['solution']()\n"
            "    raise SystemExit('LAI: the program defines no variable `answer`')\n"
            f"print('\\n{_ANSWER_MARK}' + str(__lai_answer()))\n")


def run_python_answer(program: str, limits: Any = None) -> tuple[str | None, str]:
    """Run an item's `python` in the sandbox.

    Returns:
        `(value, "ok")` with the value of `answer` as text, or `(None, reason)`.
    """
    from lai.tools.sandbox import SandboxLimits, run_python

    res = run_python(python_answer_program(program), limits=limits or SandboxLimits())
    if res.ok:
        for line in reversed(res.stdout.splitlines()):
            if line.startswith(_ANSWER_MARK):
                return line[len(_ANSWER_MARK):].strip(), "ok"
    if res.timed_out:
        return None, "python timed out"
    tail = (res.stderr or res.reason or "").strip().splitlines()
    why = tail[-1] if tail else f"exit code {res.returncode}"
    if "defines no variable" in why:
        return None, "python defines no variable `answer`"
    return None, f"python failed: {why[:200]}"


# ---------------------------------------------------------------- parsing


_HEADER = re.compile(r"^[ \t]*(?:problem|question|exercise|example)\s*#?\d+\s*[.):]?[ \t]*$",
                     re.I | re.M)


def _blocks(text: str) -> list[str]:
    """A reply cut into one block per problem: at each `Problem 1`-style header line, at each
    `Question:`-style label that no such header heads, else at `1.` numbering."""
    text = _unmark(text or "")
    starts = {m.start() for m in _Q_LABEL.finditer(text)}
    for m in _HEADER.finditer(text):
        after = re.compile(r"\s*").match(text, m.end()).end()
        starts.discard(text.rfind("\n", 0, after) + 1)  # the label it heads starts no block
        starts.add(m.start())
    ordered = sorted(starts) or [m.start() for m in _NUMBERED.finditer(text)]
    return [text[s:e] for s, e in zip(ordered, ordered[1:] + [len(text)])]


def open_block(block: str) -> tuple[str, str | None]:
    """A problem block without its `Skill:` line, `Problem 1` header and `Question:` / `1.`
    label (what every family's block parser strips first), and the skill it named."""
    skill = None
    if m := _SKILL.search(block):
        skill = m[1].strip()
        block = block[: m.start()] + block[m.end():]
    block = block.strip()
    if header := _HEADER.match(block):
        block = block[header.end():].lstrip()
    if _Q_LABEL.match(block):
        return _Q_LABEL.sub("", block, count=1), skill
    return _NUMBERED.sub("", block, count=1), skill


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
    finals = list(re.finditer(r"^[^\n]*####[^\n]*", rest, re.M))
    if not finals:
        finals = list(re.finditer(r"^[ \t]*(?:the\s+)?final answer(?:\s+is)?\s*[:=]?[^\n]*\d[^\n]*$",
                                  rest, re.I | re.M))
        target = extract_answer(finals[-1][0]) if finals else None
    else:
        tail = rest[finals[-1].start():]
        target = extract_answer(tail.split("\n", 1)[0])
    if target is None or not is_numeric(target):
        return None, "no final '#### <number>' line"
    final = finals[-1]
    line = final[0]
    before = line.split("####", 1)[0].strip() if "####" in line else ""
    body = [ln.strip() for ln in rest[: final.start()].splitlines() if ln.strip()]
    if before:
        body.append(before)
    item.update(question=question, answer="\n".join([*body, f"#### {target}"]), target=target)
    if python:
        item["python"] = python
    return item, "ok"


def _normalize_question(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", (text or "").lower()).split())


# ---------------------------------------------------------------- tasks


@register_task("math_jsonl")
class MathTask(SourcedTask):
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
        item: Item = {"id": _item_id(row, default_id, self.name), "question": question.strip(),
                      "answer": answer.strip(), "target": target}
        if (python := get_field(row, "python", required=False)) is not None:
            item["python"] = python
        if skill := _optional_text(row, "skill", "type"):
            item["skill"] = skill
        return item

    # -------------------------------------------------------------- target side

    def prompt(self, item: Item) -> Messages:
        return [{"role": "user", "content": f"{item['question']}\n{INSTRUCTION}"}]

    def completion(self, item: Item) -> str:
        return item["answer"]

    def extract(self, response: str) -> str | None:
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
        return parse_blocks(_blocks(text), parse_math_block, self._finish)

    def parse(self, text: str) -> list[Item]:
        return self.parse_with_rejects(text)[0]

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
            from lai.tools.sandbox import SandboxLimits

            limits = SandboxLimits(timeout_s=float(self.python_timeout),
                                   cpu_s=max(1, math.ceil(self.python_timeout)))
            value, reason = run_python_answer(str(item["python"]), limits)
            if value is None:
                return False, reason
            if not answers_equal(value, target):
                return False, f"python computes {value}, not the target {target}"
        return True, "ok"

    def signature(self, item: Item) -> str:
        """The normalized question text."""
        return _normalize_question(str(item.get("question", "")))


def _optional_text(row: dict, *names: str) -> str | None:
    """The first of `names` holding non-empty text (a number is shown as text), else None."""
    for name in names:
        value = row.get(name)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def _item_id(row: dict, default_id: str, task: str) -> str:
    value = row.get("id", row.get("task_id"))
    if value is None or isinstance(value, bool) or str(value).strip() == "":
        return default_id
    if isinstance(value, (int, float)):
        return f"{task}-{value}"
    if not isinstance(value, str):
        raise RowError(f"field 'id' should be a string or number, got {type(value).__name__}", field="id")
    return value.strip()


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
