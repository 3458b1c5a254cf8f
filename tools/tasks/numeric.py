"""Helpers shared by numeric-answer math tasks (arith, GSM8K, GSM-Plus).

Grading follows the paper: the number after the last `####`, else the last number in the
reply. Generated problems come back in the paper's numbered `Question: / Answer: / #### N`
format; the parser here is tolerant of what real LLMs write around it, and the equation
checker is what makes a generated worked solution trustworthy enough to train on.
"""

from __future__ import annotations

import ast
import operator
import math
import re
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
# A minus sign counts only when it does not follow a word or ")" ("10-3" is not "-3").
_NUMBER = re.compile(rf"(?:(?<![\w)])(?P<sign>-)\s?)?\$?(?P<num>{_NUM})")


def _normalize(num: str, negative: bool = False) -> str | None:
    try:
        d = Decimal(num.replace(",", ""))
    except InvalidOperation:
        return None
    d = -d if negative else d
    if d == d.to_integral_value():
        return str(int(d))
    return f"{d.normalize():f}"


def extract_last_number(text: str | None) -> str | None:
    """The graded final answer of a reply, as a normalized number string.

    Args:
        text: a model reply or worked solution.

    Returns:
        The first number after the last `####` if there is one, else the last number in the
        text; commas, `$` and trailing periods dropped (`"$1,234."` → `"1234"`, `"2.50"` →
        `"2.5"`). None when the text holds no number.
    """
    if not text:
        return None
    text = text.replace("\u2212", "-")
    if "####" in text:
        tail = text.rsplit("####", 1)[1]
        m = _NUMBER.search(tail)
        if m:
            return _normalize(m["num"], _is_negative(m, tail))
    found = list(_NUMBER.finditer(text))
    if not found:
        return None
    return _normalize(found[-1]["num"], _is_negative(found[-1], text))


def _is_negative(m: re.Match, text: str) -> bool:
    """A `-` is a sign unless a number or `)` stands before it: `144 - 72` ends in 72, not -72."""
    return bool(m["sign"]) and not re.search(r"[\d)]\s*$", text[: m.start()])


def _to_float(x: object) -> float | None:
    if x is None:
        return None
    try:
        return float(str(x).replace(",", "").replace("$", "").strip())
    except ValueError:
        return None


def numbers_equal(a: object, b: object, tol: float = 1e-6) -> bool:
    """Whether two numbers (str, int or float) are equal: within an absolute `tol`, or a
    relative 1e-9 for float noise on big values (2880001 is not 2880000); None-safe."""
    fa, fb = _to_float(a), _to_float(b)
    if fa is None or fb is None:
        return False
    return math.isclose(fa, fb, rel_tol=1e-9, abs_tol=tol)


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
    target = extract_last_number(final[0]) if final and re.search(r"\d", final[0]) else None
    if target is None:
        return False, "no final answer line"
    equations = find_equations(solution[: solution.rfind("####")])
    if not equations:
        return False, "no equation found"
    for eq in equations:
        if eq.value is None or not _close(eq.value, eq.result):
            shown = "undefined" if eq.value is None else _normalize(repr(round(eq.value, 6)))
            lhs = eq.text.rsplit("=", 1)[0].strip()
            return False, f"equation '{eq.text}' is wrong ({lhs} = {shown})"
    last = _normalize(equations[-1].result)
    if not _close(float(target), equations[-1].result) and not numbers_equal(target, last):
        return False, f"final answer {target} does not match last result {last}"
    return True, "ok"


# ---------------------------------------------------------------- numbered problems

_Q_LABEL = re.compile(
    r"^[ \t>*\-]*(?:\d+\s*[.):]\s*)?(?:question|problem|q)\s*\d*\s*[.):]\s*", re.I | re.M
)
_NUMBERED = re.compile(r"^[ \t]*\d+\s*[.)]\s+(?=[^\n]*[A-Za-z])(?![^\n]*=)", re.M)
_A_LABEL = re.compile(
    r"(?:^[ \t>*\-]*(?:answer|solution|a)\s*:|(?<!final\s)\b(?:answer|solution)\s*:|(?<=[.?!])[ \t]+A:)\s*",
    re.I | re.M,
)
_SKILL = re.compile(r"^[ \t>*\-]*skill(?:\s+tag)?\s*:\s*([\w\- ]+?)\s*$", re.I | re.M)


def _unmark(text: str) -> str:
    text = text.replace("**", "").replace("__", "").replace("\r\n", "\n")
    return re.sub(r"^[ \t]*#{1,3}[ \t]+", "", text, flags=re.M)  # headings, never "####"


def split_question(block: str) -> tuple[str | None, str]:
    """A problem block → `(question, text after the 'Answer:' label)`, or `(None, reason)`."""
    label = _A_LABEL.search(block)
    if not label:
        return None, "no 'Answer:' label"
    question = " ".join(block[: label.start()].split())
    if not question:
        return None, "empty question"
    return question, block[label.end():]


def _parse_block(block: str) -> tuple[dict | None, str]:
    item: dict = {}
    if skill := _SKILL.search(block):
        item["skill"] = skill[1].strip()
        block = block[: skill.start()] + block[skill.end():]
    question, rest = split_question(block)
    if not question:
        return None, rest
    final = re.search(r"^[ \t]*####[^\n]*", rest, re.M) or re.search(r"####[^\n]*", rest)
    target = extract_last_number(final[0]) if final and re.search(r"\d", final[0]) else None
    if target is None:
        return None, "no final '#### <number>' line"
    body = [ln.strip() for ln in rest[: final.start()].splitlines() if ln.strip()]
    item.update(question=question, answer="\n".join([*body, f"#### {target}"]), target=target)
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
    text = _unmark(text or "")
    starts = list(_Q_LABEL.finditer(text)) or list(_NUMBERED.finditer(text))
    items, rejects = [], []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        item, reason = _parse_block(text[m.end():end])
        if item:
            items.append(item)
        else:
            rejects.append({"text": text[m.start():end].strip(), "reason": reason})
    return items, rejects


PYTHON_ANSWER_TIMEOUT_S = 10.0


def python_answer_matches(code: str, target: str | float) -> tuple[bool, str]:
    """Run a sample's Python solution in the sandbox; its variable `answer` must equal `target`.

    The convention every math prompt states: the program computes the final answer into a
    variable named `answer` (printing is optional and ignored).
    """
    from lai.tools.sandbox import SandboxLimits, run_python

    probe = f"{code}\n\nprint('__LAI_ANSWER__', repr(answer))\n"
    result = run_python(probe, limits=SandboxLimits(timeout_s=PYTHON_ANSWER_TIMEOUT_S))
    if not result.ok:
        return False, f"python solution failed: {result.reason}"
    marker = [line for line in result.stdout.splitlines() if line.startswith("__LAI_ANSWER__ ")]
    value = extract_last_number(marker[-1].split(" ", 1)[1]) if marker else None
    if value is None:
        return False, "python solution computed no numeric `answer`"
    if not numbers_equal(value, target):
        return False, f"python solution gives {value}, not the stated answer {target}"
    return True, "ok"
