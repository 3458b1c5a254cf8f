"""Rule-based diagnosis of a wrong `arith` answer, read from the student's working, not only
from its final number.

The offline instructor's analyst is these rules. Each diagnosis names a category from
`ARITH_CATEGORIES` and the slip's details (which column failed to carry or borrow, whether
the borrow crossed a zero, the operation used instead, the number misread, the fact got
wrong), because the generator writes its practice problems from those details.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lai.tools.tasks.arith_columns import PLACES, borrow_columns, carry_columns, digits, is_column_line
from lai.tools.tasks.numeric import find_equations

VERBS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}
PRIMARY_OP = {"add_carry": "+", "sub_borrow": "-", "mul": "*", "div": "/", "money": "*"}
_STEP = re.compile(r"(\d+(?:\.\d+)?)\s*([-+*/x×])\s*(\d+(?:\.\d+)?)\s*=\s*(-?\d+(?:\.\d+)?)")


@dataclass
class Case:
    """One problem as read back from `ArithTask.show` text."""

    question: str
    skill: str | None
    operands: list[int] | None
    student: float | None  # the student's final answer; None when there is none
    gold: float
    working: str = ""  # the student's whole reply
    phrasing: int | None = None


@dataclass
class Diagnosis:
    sentence: str
    category: str
    details: dict = field(default_factory=dict)


def num(v: float) -> str:
    return str(int(v)) if v == int(v) else f"{v:g}"


def steps_written(working: str) -> list[tuple[float, str, float, float]]:
    """The whole-number steps `a op b = c` of a reply (column lines left out), as written."""
    out = []
    for line in working.splitlines():
        if is_column_line(line):
            continue
        for m in _STEP.finditer(line):
            op = {"x": "*", "×": "*"}.get(m[2], m[2])
            out.append((float(m[1]), op, float(m[3]), float(m[4])))
    return out


def _false_fact(working: str) -> str | None:
    """The first false equation the student wrote, e.g. `7 + 5 = 13`."""
    for eq in find_equations(working):
        if eq.value is not None and abs(eq.value - float(eq.result)) > 1e-9:
            return eq.text
    return None


def _misread(a: int, b: int) -> int | None:
    """`b` when it is `a` with one digit changed or two digits swapped (532 read as 523)."""
    sa, sb = str(a), str(b)
    if a == b or len(sa) != len(sb):
        return None
    diff = [i for i, (x, y) in enumerate(zip(sa, sb)) if x != y]
    if len(diff) == 1 or (len(diff) == 2 and sorted(sa) == sorted(sb)):
        return b
    return None


def regrouping_slip(a: int, b: int, op: str, v: float, g: float) -> Diagnosis | None:
    """A carry (op `+`) or borrow (op `-`) slip in `a op b`, located by column, or None."""
    if v != int(v) or v < 0 or v == g:
        return None
    v, g = int(v), int(g)
    width = max(len(str(a)), len(str(b)), len(str(v)), len(str(g)))
    dv, dg, da, db = digits(v, width), digits(g, width), digits(a, width), digits(b, width)
    k = next(i for i in range(width) if dv[i] != dg[i])
    if op == "+":
        carries = carry_columns(a, b)
        if v == sum(((x + y) % 10) * 10**i for i, (x, y) in enumerate(zip(da, db))) and carries:
            col = carries[0]
            how = "every carry was dropped"
        elif k >= 1 and k - 1 in carries and dv[k] == (dg[k] - 1) % 10:
            col, how = k - 1, f"the carry from the {PLACES[k - 1]} into the {PLACES[k]} was dropped"
        else:
            return None
        return Diagnosis(f"In {a} + {b} {how}, giving {v} instead of {g}: the {PLACES[col]} column "
                         f"adds to 10 or more and must carry 1.", "carry slip",
                         {"column": PLACES[col], "column_index": col})
    borrows = borrow_columns(a, b)
    if k in borrows and dv[k] == abs(da[k] - db[k]):
        col = k
        how = (f"in the {PLACES[k]} column the smaller digit was taken from the larger "
               f"({max(da[k], db[k])} - {min(da[k], db[k])}) instead of borrowing")
    elif k >= 1 and k - 1 in borrows and dv[k] == (dg[k] + 1) % 10:
        col, how = k - 1, f"the 1 borrowed by the {PLACES[k - 1]} was not taken off the {PLACES[k]}"
    else:
        return None
    across_zero = col + 1 < width and da[col + 1] == 0
    zero = " across a zero" if across_zero else ""
    return Diagnosis(f"In {a} - {b} {how}, giving {v} instead of {g}: the {PLACES[col]} column must "
                     f"borrow{zero}.", "borrow slip",
                     {"column": PLACES[col], "column_index": col, "across_zero": across_zero})


def _problem_steps(c: Case) -> list[tuple[int, str, int]]:
    """The correct whole-number steps: (a, op, b), for wrong-operation and misread checks."""
    x, s = c.operands or [], c.skill
    if not x:
        return []
    if s == "two_step":
        return [(x[0], "+", x[1]), (x[0] + x[1], "-", x[2])]
    if s == "time":
        return [(x[0], "*", 60), (x[0] * 60, "+", x[1])]
    return [(x[0], PRIMARY_OP[s], x[1])] if s in PRIMARY_OP else []


def _operation_in_working(c: Case) -> Diagnosis | None:
    """A step written on the problem's own numbers with the wrong operation (`930 - 673 = 12`
    for an addition), whatever its result."""
    for a, op, b in _problem_steps(c):
        for wa, wop, wb, wv in steps_written(c.working):
            if {wa, wb} == {a, b} and wop != op and wop in VERBS:
                return Diagnosis(
                    f"The student wrote {num(wa)} {wop} {num(wb)} = {num(wv)}: the problem asks to "
                    f"{VERBS[op]} {a} and {b} ({a} {op} {b}), not to {VERBS[wop]} them.",
                    "wrong operation", {"expected": op, "used": wop, "step": f"{a} {op} {b}"})
    return None


def _misread_in_working(c: Case) -> Diagnosis | None:
    for a, op, b in _problem_steps(c):
        for wa, wop, wb, _ in steps_written(c.working):
            if wop != op or wa != int(wa) or wb != int(wb):
                continue
            for right, wrong, other, other_written in ((b, int(wb), a, wa), (a, int(wa), b, wb)):
                if other_written == other and _misread(right, wrong):
                    return Diagnosis(f"The student read {right} as {wrong} ({num(wa)} {wop} {num(wb)}), "
                                     f"so the working starts from the wrong number.",
                                     "misread number", {"number": right, "read_as": wrong})
    return None


def diagnose(c: Case) -> Diagnosis:
    """Diagnosis of one wrong answer: sentence, category (from ARITH_CATEGORIES), details."""
    if c.student is None:
        return Diagnosis("The student never wrote a final line '#### <number>', so there is no answer "
                         "to grade; the working must end with the result on its own line.",
                         "no final answer", {"final_line": "missing"})
    v, g, x, s = c.student, c.gold, c.operands or [], c.skill
    if v == g:
        return Diagnosis("The final number is right but the written working around it is not.",
                         "arithmetic slip", {})
    found = _operation_in_working(c)
    if found:
        return found
    if s == "two_step" and x:
        first = x[0] + x[1]
        if v == first:
            return Diagnosis(f"The student did the first step {x[0]} + {x[1]} = {first} and stopped there, "
                             f"never taking away {x[2]} ({first} - {x[2]} = {num(g)}).",
                             "stopped early", {"stopped_after_step": 1, "missing": f"{first} - {x[2]}"})
        if v in (first + x[2], x[0] - x[1] - x[2], x[0] - x[1] + x[2]):
            return Diagnosis(f"The student combined {x[0]}, {x[1]} and {x[2]} with the wrong operations, "
                             f"getting {num(v)}: the problem adds {x[1]} and then takes away {x[2]}.",
                             "wrong operation", {"expected": "+ then -"})
        written = {(wa, wop, wb): wv for wa, wop, wb, wv in steps_written(c.working)}
        step1 = written.get((x[0], "+", x[1]), written.get((x[1], "+", x[0]), v + x[2]))
        slip = regrouping_slip(x[0], x[1], "+", step1, first) or regrouping_slip(first, x[2], "-", v, g)
        if slip:
            return slip
    if s == "time" and x:
        h, m = x
        if v == h * 60:
            return Diagnosis(f"The student turned {h} hours into {h * 60} minutes but never added the {m} "
                             f"minutes ({h * 60} + {m} = {num(g)}).", "stopped early",
                             {"stopped_after_step": 1, "missing": f"{h * 60} + {m}"})
        if v in (h + m, h * 100 + m, g / 60) or v == g * 60:
            return Diagnosis(f"The student did not convert hours to minutes: {h} hours is {h} * 60 = "
                             f"{h * 60} minutes, so the total is {num(g)} minutes, not {num(v)}.",
                             "unit conversion", {"unit": "hours to minutes"})
    if s == "money" and x:
        p, q = x
        if v * 100 == g or v == g * 100 or v == p * q / 100:
            return Diagnosis(f"The student gave the amount in the wrong unit: the question asks for cents, "
                             f"and {q} items at {p} cents are {num(g)} cents, not {num(v)}.",
                             "unit conversion", {"unit": "dollars to cents"})
        if v == p:
            return Diagnosis(f"The student found the price of one item ({p} cents) but never multiplied "
                             f"it by the {q} items.", "stopped early", {"stopped_after_step": 1})
    pair = PRIMARY_OP.get(s or "")
    if pair and x:
        a, b = x
        others = {"+": a + b, "-": a - b, "*": a * b, **({"/": a // b} if b and a % b == 0 else {})}
        for op, val in others.items():
            if op != pair and v == val:
                return Diagnosis(f"The student computed {a} {op} {b} = {num(val)} instead of {a} {pair} {b} "
                                 f"= {num(g)}: the problem asks to {VERBS[pair]}, not to {VERBS[op]}.",
                                 "wrong operation", {"expected": pair, "used": op})
        if pair in "+-" and (slip := regrouping_slip(a, b, pair, v, g)):
            return slip
    found = _misread_in_working(c)
    if found:
        return found
    fact = _false_fact(c.working)
    if fact:
        return Diagnosis(f"The method is right but the student wrote {fact}, which is false; the answer "
                         f"{num(v)} follows from that slip instead of {num(g)}.", "arithmetic slip",
                         {"fact": fact})
    if abs(v - g) < 10 or abs(v - g) <= 0.05 * abs(g):
        return Diagnosis(f"The method is right but a calculation slipped: the answer {num(v)} is off by "
                         f"{num(abs(v - g))} from {num(g)}.", "arithmetic slip", {"off_by": num(abs(v - g))})
    if v in x or num(v) in re.findall(r"\d+", c.question):
        return Diagnosis(f"The answer {num(v)} is just a number copied from the question; the student "
                         f"did not work out what was asked.", "misread question", {})
    return Diagnosis(f"The answer {num(v)} does not follow from the numbers in the problem; the correct "
                     f"working gives {num(g)}.", "wrong computation", {})


def features(c: Case) -> dict[str, int]:
    """What makes a problem demanding: digits, regroupings, a borrow across zero, steps."""
    x = c.operands or []
    f = {"digits": max((len(str(v)) for v in x), default=0), "regroup": 0, "zero": 0,
         "steps": 2 if c.skill in ("two_step", "money", "time") else 1}
    if c.skill == "add_carry" and x:
        f["regroup"] = len(carry_columns(*x))
    if c.skill == "sub_borrow" and x:
        f["regroup"] = len(borrow_columns(*x))
        f["zero"] = int("0" in str(x[0])[:-1] and f["regroup"] > 0)
    if c.skill == "two_step" and x:
        f["regroup"] = len(carry_columns(x[0], x[1])) + len(borrow_columns(x[0] + x[1], x[2]))
    return f


def contrast(c: Case, neighbours: list[Case]) -> tuple[str, str]:
    """What the failed problem demands that the correctly solved neighbours do not (LEC):
    (sentence, kind) with kind one of regrouping, zero, digits, steps, skill, lapse."""
    if not neighbours:
        return "No solved neighbours could be read to compare with.", "none"
    same = [n for n in neighbours if n.skill == c.skill]
    reasons, kind = [], None
    if not same:
        others = ", ".join(sorted({n.skill or "unknown" for n in neighbours}))
        reasons.append(f"they practise other skills ({others}) while this one is {c.skill or 'unknown'}")
        same, kind = neighbours, "skill"
    mine, theirs = features(c), [features(n) for n in same]
    word = "carries" if c.skill == "add_carry" else "borrows" if c.skill == "sub_borrow" else "regroupings"
    top = lambda key: max(t[key] for t in theirs)  # noqa: E731
    if mine["regroup"] > top("regroup"):
        reasons.append(f"it needs {mine['regroup']} {word} while they needed at most {top('regroup')}")
        kind = kind or "regrouping"
    if mine["zero"] and not any(t["zero"] for t in theirs):
        reasons.append("it borrows across a zero, which none of them does")
        kind = kind or "zero"
    if mine["digits"] > top("digits"):
        reasons.append(f"it uses {mine['digits']}-digit numbers while they used at most {top('digits')} digits")
        kind = kind or "digits"
    if mine["steps"] > top("steps"):
        reasons.append("it takes two steps while they take one")
        kind = kind or "steps"
    if not reasons:
        return ("The solved problems are just as demanding (same skill, similar numbers), so this "
                "is a lapse in a step the student can already do."), "lapse"
    return "Unlike the solved problems: " + "; ".join(reasons) + ".", kind or "lapse"
