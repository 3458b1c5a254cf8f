"""The equations of a worked solution, normalised so that the same computation written twice is
one string: the solution side of decontamination (`lai.tools.curation`, rule `solution
contamination`) and the leak measure a benchmark reports (`final_equation_leak`).

Why: question-text rules (signature, 13-gram, near duplicate) miss a leak *across* problems.
The same final step shows up in problems that read nothing alike: a generated `mul` sample
"7 bags of 45 marbles" ends in `45 * 7 = 315`, exactly as the `money` test item "7 stamps at
$0.45, in cents" does. Trained on the first, the model has seen the answer to the second.

**Normalisation** (`normalize_equation`): equations are found by `find_equations` (so GSM8K's
`<<...>>` annotations, `x`/`×`, `$`, thousands commas and unit words between numbers are already
handled there); numbers lose formatting (`315.0` → `315`, `0.50` → `0.5`); spacing goes; the
left side is parsed and the operands of `+` and of `*` are sorted, flattening chains, so
`45*7=315`, `45 * 7 = 315` and `7 * 45 = 315` are one equation, as are `a + b + c` in any order.
`-` and `/` keep their order. The result is written `7 * 45 = 315`.

**Trivial equations** (`is_trivial`) are ignored on both sides; an equation is trivial when
  * all its operands are single digits up to place value (one non-zero digit then zeros: `7`,
    `40`, `300`): column work (`ones: 7 + 5 = 12, carry 1`) and partial products
    (`40 * 6 = 240`) teach digit facts that every solution of that size repeats, not an answer;
  * its left side is one unit conversion, a multiplication or division by 10, 60, 100 or 1000
    (`3 * 60 = 180`, `0.45 * 100 = 45`, `250 / 100 = 2.5`): hours to minutes and dollars to
    cents appear in hundreds of unrelated problems, and the step carries nothing of the
    problem but one of its given numbers;
  * its result is below 20 in absolute value: `9 * 2 = 18` is a times-table fact, not a
    leaked answer, and small results collide by chance across unrelated problems.
The cost: a held-out item whose answer comes from a trivial step (`45 * 10 = 450`) is not
protected by this rule; its question-text rules still apply.

`final_equation` is the last non-trivial equation of a solution (before `####`): the step that
gives the answer away. Curation drops a sample when any of its non-trivial equations equals a
held-out item's final equation; matching against *every* held-out equation would drop samples
for sharing an intermediate step, which is how arithmetic works, not a leak.

Measured (tests/tools/test_solution_contamination.py): 2000 random `arith` samples against 256
validation + 1024 test `arith` items: 15% of the test items have their final equation in the
samples; the rule drops 208 samples (10%; matching every held-out equation would drop 316) and
leaves 0%. On GSM8K-style data the rule is dearer and the leak measure noisier: of 3170 ordinary
GSM8K *train* solutions, 545 (17%) hold a GSM8K test item's final equation (every-equation
rule: 761, 24%), mostly common facts such as `2 * 12 = 24` or `3 * 15 = 45`.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Hashable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from lai.tools.tasks.numeric import find_equations

CONVERSION_FACTORS = (10, 60, 100, 1000)
"""Multiplying or dividing by one of these, alone, is a unit conversion (see the module doc)."""
SMALL_RESULT = 20
"""Equations whose result is below this (in absolute value) are trivial."""

_OP = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_COMMUTATIVE = (ast.Add, ast.Mult)


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        return None


def _fmt(d: Decimal) -> str:
    if d == d.to_integral_value():
        return str(int(d))
    return f"{d.normalize():f}"


def _parse(lhs: str) -> ast.AST | None:
    lhs = re.sub(r"(?<![\d.])0+(?=\d)", "", lhs)  # "007": not a Python literal
    for text in (lhs, re.sub(r"[()]", "", lhs)):  # unbalanced brackets from the line around
        try:
            return ast.parse(text.strip(), mode="eval").body
        except SyntaxError:
            continue
    return None


def _leaves(node: ast.AST) -> list[Decimal] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return [Decimal(str(node.value))]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _leaves(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OP:
        left, right = _leaves(node.left), _leaves(node.right)
        return None if left is None or right is None else left + right
    return None


def _flatten(node: ast.AST, op: type) -> list[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, op):
        return _flatten(node.left, op) + _flatten(node.right, op)
    return [node]


def _canon(node: ast.AST, top: bool = True) -> str:
    """Canonical text of an expression: numbers normalised, `+`/`*` operands sorted."""
    if isinstance(node, ast.Constant):
        return _fmt(Decimal(str(node.value)))
    if isinstance(node, ast.UnaryOp):
        return f"-{_canon(node.operand, False)}"
    op = type(node.op)
    if op in _COMMUTATIVE:
        parts = sorted((_canon(n, False) for n in _flatten(node, op)), key=_sort_key)
    else:
        parts = [_canon(node.left, False), _canon(node.right, False)]
    text = f" {_OP[op]} ".join(parts)
    return text if top else f"({text})"


def _sort_key(part: str) -> tuple:
    d = _number(part)
    return (0, d, "") if d is not None else (1, Decimal(0), part)


def _one_digit(d: Decimal) -> bool:
    """A single digit up to place value: 0-9, or one non-zero digit followed by zeros."""
    if d != d.to_integral_value():
        return False
    return len(str(abs(int(d))).rstrip("0")) <= 1


def _is_conversion(node: ast.AST) -> bool:
    if not isinstance(node, ast.BinOp) or not isinstance(node.op, (ast.Mult, ast.Div)):
        return False
    sides = [node.right] if isinstance(node.op, ast.Div) else [node.left, node.right]
    return any(isinstance(s, ast.Constant) and s.value in CONVERSION_FACTORS for s in sides)


def _analyse(lhs: str, result: str) -> tuple[str, bool] | None:
    """(normalised equation, trivial?) or None when it cannot be read."""
    value = _number(result)
    node = _parse(lhs)
    leaves = _leaves(node) if node is not None else None
    if value is None or leaves is None:
        return None
    text = f"{_canon(node)} = {_fmt(value)}"
    trivial = (abs(value) < SMALL_RESULT or all(_one_digit(d) for d in leaves)
               or _is_conversion(node))
    return text, trivial


def _solution_part(text: str) -> str:
    text = text or ""
    return text[: text.rfind("####")] if "####" in text else text


def normalize_equation(equation: str) -> str | None:
    """`"45*7=315"` → `"7 * 45 = 315"`; None when it is not `expression = number`."""
    lhs, sep, rhs = equation.rpartition("=")
    found = _analyse(lhs, rhs) if sep else None
    return found[0] if found else None


def is_trivial(equation: str) -> bool:
    """Whether an equation is trivial (digit facts, a unit conversion, a result below 20)."""
    lhs, sep, rhs = equation.rpartition("=")
    found = _analyse(lhs, rhs) if sep else None
    return found is None or found[1]


@functools.lru_cache(maxsize=65536)
def _equations(text: str) -> tuple[str, ...]:
    """The non-trivial normalised equations of a solution, in order (repeats kept); cached,
    since curation and the leak measure read the same solutions more than once."""
    out = []
    for eq in find_equations(_solution_part(text)):
        lhs, _, rhs = eq.text.rpartition("=")
        found = _analyse(lhs, rhs)
        if found and not found[1]:
            out.append(found[0])
    return tuple(out)


def solution_equations(text: str) -> set[str]:
    """The normalised non-trivial equations of a worked solution (see the module docstring)."""
    return set(_equations(text))


def final_equation(text: str) -> str | None:
    """The last non-trivial equation of a worked solution (the one that gives the `#### N`
    answer), normalised; None when the solution has none."""
    found = _equations(text)
    return found[-1] if found else None


def _solution(x: Any) -> str:
    """A solution text: a string as it is, an item's `answer`."""
    if isinstance(x, Mapping):
        return str(x.get("answer") or "")
    return str(x or "")


def _keyed(items: Iterable[Any] | Mapping[Hashable, Any]) -> Iterable[tuple[Hashable, Any]]:
    if isinstance(items, Mapping):
        return items.items()
    return ((it.get("id", i) if isinstance(it, Mapping) else i, it) for i, it in enumerate(items))


class FinalEquationIndex:
    """Held-out final equations → the first held-out key that ends with each."""

    def __init__(self, held_out: Iterable[Any] | Mapping[Hashable, Any]):
        self.finals: dict[str, Hashable] = {}
        for key, item in _keyed(held_out):
            if (eq := final_equation(_solution(item))) is not None:
                self.finals.setdefault(eq, key)

    def __len__(self) -> int:
        return len(self.finals)

    def match(self, solution: str) -> tuple[str, Hashable] | None:
        """(the first equation of `solution` that is a held-out final equation, its key) or None."""
        for eq in _equations(solution):
            if eq in self.finals:
                return eq, self.finals[eq]
        return None


def final_equation_leak(train_samples: Iterable[Any],
                        held_out_items: Iterable[Any] | Mapping[Hashable, Any]) -> dict:
    """The share of held-out items whose final equation appears among the non-trivial equations
    of the training samples' solutions.

    Args:
        train_samples: items (their `answer` is the solution) or solution texts.
        held_out_items: items (keyed by `id`, else position), solution texts, or a mapping
            key -> item or solution text.
    Returns:
        `{"items": n, "with_final_equation": m, "leaked": k, "fraction": k / n, "examples":
        [up to 5 keys of leaked items]}`; n counts every held-out item, m those that have a
        (non-trivial) final equation and so can leak at all.
    """
    train: set[str] = set()
    for s in train_samples:
        train.update(_equations(_solution(s)))
    n = m = 0
    leaked: list[Hashable] = []
    for key, item in _keyed(held_out_items):
        n += 1
        eq = final_equation(_solution(item))
        if eq is not None:
            m += 1
            if eq in train:
                leaked.append(key)
    return {"items": n, "with_final_equation": m, "leaked": len(leaked),
            "fraction": len(leaked) / n if n else 0.0, "examples": leaked[:5]}
