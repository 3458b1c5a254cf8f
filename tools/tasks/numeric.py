"""Worked solutions of numeric problems: the arithmetic they write, and the paper's numbered
problem format they come in (arith, GSM8K, GSM-Plus).

The equation checker is what makes a generated worked solution trustworthy enough to train
on; `parse_numbered_problems` reads the paper's `Question: / Answer: / #### N` replies,
tolerant of what real LLMs write around them. Answers are read and compared by `answers.py`.
"""

from __future__ import annotations

import ast
import operator
import re
from typing import NamedTuple

from lai.tools.tasks.answers import (
    answer_value, answers_equal, extract_answer, normalize_number, working_and_answer,
)
from lai.tools.tasks.blocks import NUMBERED, Q_LABEL, SKILL_LINE, split_question, unmark


# ---------------------------------------------------------------- equations in a solution

class Equation(NamedTuple):
    text: str  # "12 * 4 = 48", as normalized for checking
    value: float | None  # the left side evaluated; None when it cannot be (e.g. 1 / 0)
    result: str  # the right side as written


_N = r"\d+(?:\.\d+)?"
_TERM = rf"\(*\s*{_N}\s*\)*"
_EXPR = re.compile(rf"(?:(?<![\w)])-)?{_TERM}(?:\s*[-+*/]\s*{_TERM})+\s*=\s*(-?{_N})")
_CHAIN = re.compile(rf"(?:\s*[-+*/]\s*{_TERM})+\s*=\s*(-?{_N})")
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _eval(expr: str) -> float | None:
    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        raise ValueError(expr)

    try:
        return ev(ast.parse(expr, mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError):
        return None


def _clean_line(line: str) -> str:
    line = re.sub(r"<<[^>]*>>", "", line)  # GSM8K calculator annotations repeat the visible text
    for a, b in (("\u00d7", "*"), ("\u00f7", "/"), ("\u2212", "-"), ("\\times", "*"), ("\\div", "/")):
        line = line.replace(a, b)
    line = line.replace("$", "").replace("`", "")
    line = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", line)
    # Unit words between a number and an operator: "12 apples * 4 = 48" → "12 * 4 = 48".
    line = re.sub(r"(?<=\d)(?:\s+[A-Za-z%]+){1,2}\s*(?=[-+*/=xX]\s*\(?\d)", " ", line)
    return re.sub(r"(?<=\d)\s*[xX]\s*(?=\d)", " * ", line)


def find_equations(solution: str) -> list[Equation]:
    """Every `a op b = c` written in a solution, in order; chains `a * b = c * d = e` split."""
    found = []
    for raw in solution.splitlines():
        line = _clean_line(raw)
        pos = 0
        while m := _EXPR.search(line, pos):
            lhs, rhs = line[m.start():m.start(1)].rstrip().rstrip("=").strip(), m[1]
            found.append(Equation(f"{lhs} = {rhs}", _eval(lhs), rhs))
            pos = m.end()
            while c := _CHAIN.match(line, pos):
                lhs = f"{rhs} {line[pos:c.start(1)].strip().rstrip('=').strip()}"
                rhs = c[1]
                found.append(Equation(f"{lhs} = {rhs}", _eval(lhs), rhs))
                pos = c.end()
    return found


def _close(value: float, written: str) -> bool:
    """Right sides may be rounded: "10 / 3 = 3.33" passes, "10 / 3 = 3" does not."""
    decimals = len(written.split(".")[1]) if "." in written else 0
    tol = 0.5 * 10**-decimals if decimals else 1e-6 * max(1.0, abs(value))
    return abs(value - float(written)) <= tol + 1e-9


def check_equations(solution: str) -> tuple[bool, str]:
    """Check a worked solution's arithmetic and that its final answer follows from it.

    Args:
        solution: worked solution text, one `a op b = c` per step, ending `#### N`.

    Returns:
        `(True, "ok")`, or `(False, reason)` with reasons such as
        `"equation '12 * 4 = 46' is wrong (12 * 4 = 48)"`,
        `"final answer 40 does not match last result 48"`, `"no final answer line"`,
        `"no equation found"`.
    """
    final = re.search(r"####[^\n]*", solution or "")
    target = extract_answer(final[0]) if final and re.search(r"\d", final[0]) else None
    if answer_value(target) is None:
        return False, "no final answer line"
    equations = find_equations(solution[: solution.rfind("####")])
    if not equations:
        return False, "no equation found"
    for eq in equations:
        if eq.value is None or not _close(eq.value, eq.result):
            shown = "undefined" if eq.value is None else normalize_number(repr(round(eq.value, 6)))
            lhs = eq.text.rsplit("=", 1)[0].strip()
            return False, f"equation '{eq.text}' is wrong ({lhs} = {shown})"
    last = normalize_number(equations[-1].result)
    if not _close(float(answer_value(target)), equations[-1].result) and not answers_equal(target, last):
        return False, f"final answer {target} does not match last result {last}"
    return True, "ok"


# ---------------------------------------------------------------- numbered problems


def _parse_block(block: str) -> tuple[dict | None, str]:
    item: dict = {}
    if skill := SKILL_LINE.search(block):
        item["skill"] = skill[1].strip()
        block = block[: skill.start()] + block[skill.end():]
    question, rest = split_question(block)
    if not question:
        return None, rest
    if (found := working_and_answer(rest)) is None:
        return None, "no final '#### <number>' line"
    working, target = found
    item.update(question=question, answer="\n".join([*working, f"#### {target}"]), target=target)
    return item, "ok"


def parse_numbered_problems(text: str) -> tuple[list[dict], list[dict]]:
    """Problems from an LLM reply in the paper's numbered format.

    Accepts `1. Question: ... Answer: ... #### N` blocks and common variants: markdown bold or
    headings, `Question 1:`, `Problem:`, `Q:`/`A:`, `Solution:`, missing numbering, blank
    lines, an optional `Skill tag: ...` line. Text before the first problem is ignored.

    Args:
        text: the raw reply.

    Returns:
        `(items, rejects)`: items are `{"question", "answer", "target"}` (plus `"skill"` when
        the block names one), `answer` being the worked solution ending in `#### N` and
        `target` the normalized N; rejects are `{"text", "reason"}` for blocks that start
        like a problem but lack a question, an answer or a final `#### N`.
    """
    text = unmark(text or "")
    starts = list(Q_LABEL.finditer(text)) or list(NUMBERED.finditer(text))
    items, rejects = [], []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        item, reason = _parse_block(text[m.end():end])
        if item:
            items.append(item)
        else:
            rejects.append({"text": text[m.start():end].strip(), "reason": reason})
    return items, rejects
