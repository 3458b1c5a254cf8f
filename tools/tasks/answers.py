"""Numeric answers, defined once: how a final answer is read from a reply, how two answers are
compared, and how a sample's Python program states its answer. Every math task (`arith`,
GSM8K, GSM-Plus, `math_jsonl`) grades and verifies with these, so the number this project
reports has one definition.

Reading (`extract_answer`, the paper's rule): the first number on the first non-empty line
after the last `####`, else the last number of the reply. A minus sign is a sign unless a
digit, `)` or `%` stands before it (`144 - 72` ends in 72). Commas, `$` and trailing zeros
go (`"$1,234.50"` → `"1234.5"`); after `####` a fraction stays a fraction (`"3/2"`), and a
line with no number gives its normalized text (`"#### None."` → `"none"`).

Samples an instructor writes must state their answer; when one has no `####` line,
`stated_answer` accepts, in this order: the last `\\boxed{N}`, the last line labelled
`Answer: N` (or `Final answer: N`, bold or not), the last `the (final) answer is N`. The
box is typeset as final; a label is a format; prose may hedge, so it comes last. Grading
does not use these: it keeps the paper's rule, so scores stay comparable with it.

Comparing (`answers_equal`): exact fractions, equal within 1e-6 absolute or 1e-9 relative
(2880001 is not 2880000); a decimal with two or more places also matches a fraction it
rounds (`0.33` ~ `1/3`); a non-numeric gold answer matches by normalized text.

Programs (`python_answer`): a sample's `python` computes its answer into a variable `answer`
(or a function `solution()` returning it); printing alone does not count.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import NamedTuple

INSTRUCTION = "Solve it step by step and give the final answer on a last line as '#### <number>'."
"""What every math prompt asks of the target."""

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
NUMBER = re.compile(rf"(?:(?<![\w)])(?P<sign>-)\s?)?\$?(?P<num>{_NUM})")
"""A number as written: optional sign (not after a word or `)`), `$`, thousands commas."""
_FRACTION = re.compile(rf"(?<![\w)./])(-\s?)?\$?({_NUM})\s*/\s*({_NUM})(?![\w/]|\.\d)")
_ANSWER_MARK = "__LAI_ANSWER__="


def normalize_number(num: str, negative: bool = False) -> str | None:
    """`"1,234.50"` → `"1234.5"`, `"48.0"` → `"48"`; None when it is not a number."""
    try:
        d = Decimal(num.replace(",", ""))
    except InvalidOperation:
        return None
    d = d.copy_negate() if negative else d  # exact; `-d` rounds to the context's 28 digits
    if d == d.to_integral_value():  # not str(int(d)): Python refuses ints over 4300 digits
        return f"{d.to_integral_value():f}" if d else "0"
    return f"{d.normalize():f}"


def normalize_text_answer(text: str | None) -> str:
    """A non-numeric answer for comparison: lower case, punctuation and extra spaces dropped."""
    return " ".join(re.sub(r"[^\w\s]", " ", (text or "").lower()).split())


def _signed(text: str, m: re.Match) -> str | None:
    """A `NUMBER` match normalized; its minus dropped when it is a binary minus (the text
    before it ends with a digit, `)` or `%`)."""
    negative = bool(m["sign"]) and not re.search(r"[\d)%]\s*$", text[: m.start()])
    return normalize_number(m["num"], negative)


def _first_answer(line: str) -> str | None:
    """The first number of a line, as `"a/b"` when it starts a fraction."""
    n = NUMBER.search(line)
    if not n:
        return None
    f = _FRACTION.search(line)
    if f and f.start() == n.start():
        num, den = normalize_number(f[2], bool(f[1])), normalize_number(f[3])
        if num is not None and den not in (None, "0"):
            return f"{num}/{den}"
    return _signed(line, n)


def extract_answer(text: str | None) -> str | None:
    """The graded final answer of a reply (the module docstring gives the rule); None when
    there is nothing to read."""
    if not text:
        return None
    text = text.replace("\u2212", "-")
    if "####" in text:
        tail = text.rsplit("####", 1)[1]
        line = next((ln for ln in tail.splitlines() if ln.strip()), "")
        if NUMBER.search(line):
            return _first_answer(line)
        if line.strip(" .*`"):
            return normalize_text_answer(line) or None
    last = None
    for last in NUMBER.finditer(text):
        pass
    return _signed(text, last) if last else None


# ---------------------------------------------------------------- stated answers


class Stated(NamedTuple):
    """Where a solution without `####` states its final answer."""

    start: int
    """Start of the line that states it: the working is the text before."""
    end: int
    """End of that line."""
    value: str
    """The answer, normalized (a fraction as `a/b`)."""
    line: str | None
    """That line as working to keep (`\\boxed{N}` written as N), or None for a bare label."""


_BOXED = re.compile(r"\\boxed\s*\{([^{}\n]*)\}")
_LABEL = re.compile(r"^[ \t>*#\-]*(?:final\s+)?answer\s*:[ \t*]*(?P<rest>[^\n]*)$", re.I | re.M)
_PROSE = re.compile(r"\b(?:the\s+)?(?:final\s+)?answer\s+is\s*[:=]?[ \t*]*(?P<rest>[^\n]*)", re.I)


def _line_of(text: str, pos: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return start, len(text) if end < 0 else end


def stated_answer(text: str | None) -> Stated | None:
    """The final answer a solution without `####` states (the module docstring gives the
    order), or None."""
    text = (text or "").replace("\u2212", "-")
    for pattern, group in ((_BOXED, 1), (_LABEL, "rest"), (_PROSE, "rest")):
        for m in reversed(list(pattern.finditer(text))):
            value = _first_answer(m[group])
            if value is None:
                continue
            start, end = _line_of(text, m.start())
            line = text[start:end]
            if pattern is _BOXED:
                line = _BOXED.sub(lambda b: b[1], line)
            kept = None if pattern is _LABEL else line.strip()
            return Stated(start, end, value, kept)
    return None


# ---------------------------------------------------------------- comparing


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
    """Whether an extracted answer matches a gold answer (the module docstring gives the rule)."""
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
        return f"{normalize_number(num) or num}/{normalize_number(den) or den}"
    if answer_value(s) is not None:
        return normalize_number(s.replace("$", "")) or s
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


def python_answer(program: str, timeout_s: float = 10.0) -> tuple[str | None, str]:
    """Run a sample's `python` in the sandbox, with `timeout_s` of wall clock (and CPU).

    Returns:
        `(value, "ok")` with the value of `answer` as text, or `(None, reason)`.
    """
    from lai.tools.sandbox import SandboxLimits, run_python

    limits = SandboxLimits(timeout_s=float(timeout_s), cpu_s=max(1, math.ceil(timeout_s)))
    res = run_python(python_answer_program(program), limits=limits)
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


def python_matches(program: str, target: object, timeout_s: float = 10.0) -> tuple[bool, str]:
    """Whether a sample's `python` computes `target`: `(True, "ok")` or `(False, reason)`."""
    value, reason = python_answer(program, timeout_s)
    if value is None:
        return False, reason
    if not answers_equal(value, target):
        return False, f"python computes {value}, not the target {target}"
    return True, "ok"


def working_and_answer(solution: str) -> tuple[list[str], str] | None:
    """A worked solution → `(working lines, final answer)`: the answer of its last `####`
    line (text before the `####` on that line stays working), else its `stated_answer`.
    None when it states no numeric answer."""
    finals = list(re.finditer(r"^[^\n]*####[^\n]*", solution, re.M))
    if finals:
        final = finals[-1]
        target = extract_answer(final[0])
        before = final[0].split("####", 1)[0].strip()
        end, extra = final.start(), [before] if before else []
    elif stated := stated_answer(solution):
        target, end, extra = stated.value, stated.start, [stated.line] if stated.line else []
    else:
        return None
    if target is None or not is_numeric(target):
        return None
    working = [ln.strip() for ln in solution[:end].splitlines() if ln.strip()]
    return working + extra, target
