"""Column arithmetic for the `arith` task: worked solutions that show the regrouping, and the
facts about regrouping (which columns carry or borrow) that targeted practice aims at.

A one-line solution such as `532 - 278 = 254` cannot teach a small model to borrow: the whole
answer has to be recalled at once. Written column by column, every line is a one-digit fact
the model can learn, and a slip shows up in a named column, where the instructor can see it:

    ones: 10 + 2 - 8 = 4, borrow 1
    tens: 10 + 3 - 1 - 7 = 5, borrow 1
    hundreds: 5 - 1 - 2 = 2
    532 - 278 = 254

Every line with an `=` is a true equation (the verifier checks them). Lines that start with a
place name are column lines; the others are whole-number steps, the last one the problem's.
"""

from __future__ import annotations

PLACES = ("ones", "tens", "hundreds", "thousands", "ten-thousands")


def digits(n: int, width: int) -> list[int]:
    """Digits of `n`, ones first, padded with zeros to `width`."""
    return [(n // 10**k) % 10 for k in range(width)]


def _width(*numbers: int) -> int:
    return max(len(str(abs(n))) for n in numbers)


def carry_columns(a: int, b: int) -> list[int]:
    """Columns (0 = ones) of `a + b` that carry into the next column."""
    out, carry = [], 0
    for k, (x, y) in enumerate(zip(digits(a, _width(a, b)), digits(b, _width(a, b)))):
        carry = int(x + y + carry >= 10)
        if carry:
            out.append(k)
    return out


def borrow_columns(a: int, b: int) -> list[int]:
    """Columns (0 = ones) of `a - b` (a >= b) that must borrow from the next column."""
    out, borrow = [], 0
    for k, (x, y) in enumerate(zip(digits(a, _width(a, b)), digits(b, _width(a, b)))):
        borrow = int(x - borrow < y)
        if borrow:
            out.append(k)
    return out


def borrows_across_zero(a: int, b: int) -> bool:
    """A borrow must pass through a zero digit of `a` (503 - 178: the tens are 0)."""
    da = digits(a, _width(a, b))
    return any(k + 1 < len(da) and da[k + 1] == 0 for k in borrow_columns(a, b))


def add_lines(a: int, b: int) -> list[str]:
    lines, carry = [], 0
    for k, (x, y) in enumerate(zip(digits(a, _width(a, b)), digits(b, _width(a, b)))):
        s = x + y + carry
        terms = f"{x} + {y}" + (" + 1" if carry else "")
        carry = int(s >= 10)
        lines.append(f"{PLACES[k]}: {terms} = {s}" + (", carry 1" if carry else ""))
    return lines + [f"{a} + {b} = {a + b}"]


def sub_lines(a: int, b: int) -> list[str]:
    lines, borrow = [], 0
    for k, (x, y) in enumerate(zip(digits(a, _width(a, b)), digits(b, _width(a, b)))):
        out = int(x - borrow < y)
        value = 10 * out + x - borrow - y
        terms = ("10 + " if out else "") + f"{x}" + (" - 1" if borrow else "") + f" - {y}"
        lines.append(f"{PLACES[k]}: {terms} = {value}" + (", borrow 1" if out else ""))
        borrow = out
    return lines + [f"{a} - {b} = {a - b}"]


def mul_lines(a: int, b: int) -> list[str]:
    """`a * b` for a one-digit `b`, by partial products of `a`'s places."""
    parts = [d * 10**k for k, d in enumerate(digits(a, len(str(a))))][::-1]
    parts = [p for p in parts if p] or [0]
    if len(parts) == 1:
        return [f"{a} * {b} = {a * b}"]
    lines = [f"{p} * {b} = {p * b}" for p in parts]
    lines.append(" + ".join(str(p * b) for p in parts) + f" = {a * b}")
    return lines + [f"{a} * {b} = {a * b}"]


def div_lines(a: int, b: int) -> list[str]:
    """`a / b` (exact) by partial quotients, largest place first."""
    q = a // b
    if q < 10:
        return [f"{a} / {b} = {q}"]
    lines, rest, parts = [], a, []
    for k in range(len(str(q)) - 1, 0, -1):
        part = (q // 10**k) % 10 * 10**k
        if part:
            lines += [f"{b} * {part} = {b * part}", f"{rest} - {b * part} = {rest - b * part}"]
            rest -= b * part
            parts.append(part)
    if rest:
        lines.append(f"{rest} / {b} = {rest // b}")
        parts.append(rest // b)
    if len(parts) > 1:
        lines.append(" + ".join(map(str, parts)) + f" = {q}")
    return lines + [f"{a} / {b} = {q}"]


def is_column_line(line: str) -> bool:
    return line.strip().split(":", 1)[0] in PLACES
