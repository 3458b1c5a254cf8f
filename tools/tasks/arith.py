"""The built-in `arith` task: procedurally generated grade-school word problems.

It needs no download, so a whole loop runs offline. Two traps seen on this machine shape it:
splits are disjoint by content (skill + operands), not just by seed, because small skills
such as time or division have few number combinations; and each skill has several phrasings
with one kept for the test split only, so test accuracy measures the skill, not a template.
"""

from __future__ import annotations

import hashlib
import random
import re

from lai.tools.errors import LaiError
from lai.tools.tasks.arith_columns import (
    add_lines, borrow_columns, borrows_across_zero, carry_columns, div_lines, is_column_line, mul_lines,
    sub_lines,
)
from lai.tools.tasks.answers import INSTRUCTION, answers_equal, extract_answer, python_matches
from lai.tools.tasks.base import Item, Messages, Task, register_task
from lai.tools.tasks.numeric import check_equations, parse_numbered_problems

SKILLS = ("add_carry", "sub_borrow", "mul", "div", "two_step", "money", "time")
SPLITS = ("mining", "validation", "test")
ARITH_CATEGORIES = (
    "no final answer", "wrong operation", "carry slip", "borrow slip", "stopped early",
    "unit conversion", "misread number", "arithmetic slip", "misread question", "wrong computation",
)
"""The error categories the analyst picks from (fills `{categories}` in the prompts)."""

_NAMES = ("Ava", "Ben", "Carlos", "Dina", "Eli", "Fatima", "Grace", "Hugo", "Ines", "Jack",
          "Kofi", "Lena", "Mei", "Noah", "Omar", "Priya", "Ravi", "Sara", "Tom", "Yuki")
_OBJECTS = ("marbles", "stickers", "books", "pencils", "cards", "shells", "stamps", "beads",
            "cookies", "balloons", "apples", "crayons", "buttons", "blocks", "toy cars")
_PLACES = ("shop", "bakery", "library", "farm", "market", "toy store", "school")
_GOODS = (("pencil", "pencils"), ("eraser", "erasers"), ("sticker", "stickers"),
          ("lemon", "lemons"), ("stamp", "stamps"), ("candy bar", "candy bars"),
          ("marker", "markers"), ("postcard", "postcards"))

# The LAST phrasing of each skill is held out: it appears in the test split only.
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "add_carry": (
        "{name} has {a} {obj}. {name2} gives {name} {b} more {obj}. How many {obj} does {name} have now?",
        "A {place} sold {a} {obj} on Monday and {b} {obj} on Tuesday. How many {obj} did the {place} sell on the two days?",
        "There are {a} {obj} in one box and {b} {obj} in another box. How many {obj} are there altogether?",
        "{name} collected {a} {obj} last week and {b} {obj} this week. How many {obj} did {name} collect in total?",
        "A club had {a} {obj} in its store room. Then {b} new {obj} were delivered. What is the number of {obj} in the store room now?",
    ),
    "sub_borrow": (
        "{name} had {a} {obj} and gave away {b} of them. How many {obj} does {name} have left?",
        "A {place} had {a} {obj}. It sold {b} of them. How many {obj} does the {place} have left?",
        "There were {a} {obj} in a big box. {name} took out {b} {obj}. How many {obj} are still in the box?",
        "{name} needs {a} {obj} and already has {b}. How many more {obj} does {name} need?",
        "{name} has {b} {obj} and {name2} has {a} {obj}. How many more {obj} does {name2} have than {name}?",
    ),
    "mul": (
        "{name} buys {b} bags of {obj}. Each bag holds {a} {obj}. How many {obj} does {name} buy?",
        "A box has {b} rows with {a} {obj} in each row. How many {obj} are in the box?",
        "{name} reads {a} pages every day for {b} days. How many pages does {name} read in all?",
        "Each of {b} friends has {a} {obj}. How many {obj} do the friends have together?",
        "A {place} packs {a} {obj} into every crate. How many {obj} are needed to fill {b} crates?",
    ),
    "div": (
        "{name} shares {a} {obj} equally among {b} friends. How many {obj} does each friend get?",
        "A {place} puts {a} {obj} into {b} boxes, the same number in each box. How many {obj} go in each box?",
        "There are {a} {obj} split into groups of {b}. How many groups are there?",
        "{name} has {a} {obj} and puts {b} {obj} on each plate. How many plates does {name} fill?",
        "If {b} children split {a} {obj} so that each child gets the same number, how many {obj} does each child get?",
    ),
    "two_step": (
        "{name} had {a} {obj}. {name} bought {b} more and then gave {c} to a friend. How many {obj} does {name} have now?",
        "A {place} had {a} {obj} in the morning. It got a delivery of {b} {obj} and then sold {c} of them. How many {obj} are left?",
        "{name} found {a} {obj} on Saturday and {b} {obj} on Sunday, then gave {c} of them to {name2}. How many {obj} does {name} keep?",
        "There were {a} {obj} on a shelf. {name} added {b} more, then {name2} took {c} away. How many {obj} are on the shelf now?",
        "{name} started the day with {a} {obj}, lost {c} of them at lunch, and later found {b}. How many {obj} does {name} have at the end of the day?",
    ),
    "money": (
        "One {item} costs ${price}. {name} buys {q} of them. How many cents does {name} spend?",
        "A {place} sells {items} for ${price} each. How many cents do {q} {items} cost?",
        "{name} buys {q} {items} at ${price} each. What is the total cost in cents?",
        "At the school fair each {item} costs ${price}. How much do {q} {items} cost altogether, in cents?",
        "{name} wants {q} {items}. The price of one {item} is ${price}. How many cents must {name} pay in total?",
    ),
    "time": (
        "A movie lasts {hours} and {m} minutes. How many minutes long is the movie?",
        "{name} practised the piano for {hours} and {m} minutes. How many minutes is that?",
        "A train trip takes {hours} and {m} minutes. How long is the trip in minutes?",
        "{name} spent {hours} and {m} minutes at the {place}. How many minutes did {name} spend there?",
        "A bus ride takes {m} minutes longer than {hours}. How many minutes does the ride take?",
    ),
}
HELD_OUT = {skill: len(t) - 1 for skill, t in _TEMPLATES.items()}
"""Phrasing index, per skill, that only the test split uses."""

_ARITY = {"two_step": 3}


def count_carries(a: int, b: int) -> int:
    """Columns of `a + b` that carry."""
    return len(carry_columns(a, b))


def count_borrows(a: int, b: int) -> int:
    """Columns of `a - b` (a >= b) that borrow."""
    return len(borrow_columns(a, b))


def solve(skill: str, operands: list[int]) -> tuple[str, str]:
    """The exact worked solution of a problem.

    Args:
        skill: one of `SKILLS`.
        operands: the item's `operands` (two numbers, three for `two_step`).

    Returns:
        `(answer_text, target)`: the working (column by column for addition and subtraction,
        partial products and quotients for multiplication and division; see `arith_columns`),
        the problem's own `a op b = c` line, then `#### N`; and N.

    Raises:
        LaiError: unknown skill, wrong number of operands, or a division that is not exact.
    """
    if skill not in SKILLS:
        raise LaiError(f"arith: unknown skill {skill!r}; expected one of {', '.join(SKILLS)}")
    if len(operands) != _ARITY.get(skill, 2):
        raise LaiError(f"arith: {skill} needs {_ARITY.get(skill, 2)} operands, got {operands}")
    x = [int(v) for v in operands]
    if skill == "div" and (x[1] == 0 or x[0] % x[1]):
        raise LaiError(f"arith: {x[0]} / {x[1]} is not an exact division")
    lines = {
        "add_carry": lambda: add_lines(x[0], x[1]),
        "sub_borrow": lambda: sub_lines(x[0], x[1]),
        "mul": lambda: mul_lines(x[0], x[1]),
        "div": lambda: div_lines(x[0], x[1]),
        "two_step": lambda: [f"{x[0]} + {x[1]} = {x[0] + x[1]}", f"{x[0] + x[1]} - {x[2]} = {x[0] + x[1] - x[2]}"],
        "money": lambda: [f"{x[0] / 100:.2f} * 100 = {x[0]}", *mul_lines(x[0], x[1])],
        "time": lambda: [f"{x[0]} * 60 = {x[0] * 60}", f"{x[0] * 60} + {x[1]} = {x[0] * 60 + x[1]}"],
    }[skill]()
    target = lines[-1].rsplit("= ", 1)[1]
    return "\n".join(lines + [f"#### {target}"]), target


def operands_from_solution(skill: str, solution: str) -> list[int] | None:
    """Read a problem's operands back from its worked solution (inverse of `solve`), or None.

    Only whole-number steps `a op b = c` count (column lines and sums of partial results are
    working); the problem's operands are in its last step, or spread over both steps for
    `two_step` and `time`."""
    parts = []
    for line in (solution or "").splitlines():
        if is_column_line(line):
            continue
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([-+*/])\s*(\d+(?:\.\d+)?)\s*=\s*(-?\d+(?:\.\d+)?)\s*", line)
        if m:
            parts.append((m[1], m[3]))
    pick = {"two_step": [(0, 0), (0, 1), (1, 1)], "time": [(0, 0), (1, 1)]}.get(skill, [(-1, 0), (-1, 1)])
    try:
        operands = [int(parts[i][j]) for i, j in pick]
        _, target = solve(skill, operands)
    except (IndexError, ValueError, LaiError):
        return None
    return operands if answers_equal(target, extract_answer(solution)) else None


def _rand(rng: random.Random, digits: int) -> int:
    return rng.randint(10 ** (digits - 1), 10**digits - 1)


def _draw(skill: str, rng: random.Random, shape: tuple[int, ...] | None) -> list[int]:
    """Random operands for a skill; `shape` (digits per operand) is kept where it is allowed."""
    if skill in ("add_carry", "sub_borrow"):
        allowed = [(2, 2), (2, 3), (3, 2), (3, 3)] if skill == "add_carry" else [(2, 2), (3, 2), (3, 3)]
        da, db = shape if shape in allowed else rng.choice(allowed)
        while True:
            a, b = _rand(rng, da), _rand(rng, db)
            if skill == "add_carry" and count_carries(a, b):
                return [a, b]
            if skill == "sub_borrow" and a > b and count_borrows(a, b):
                return [a, b]
    if skill == "mul":
        return [rng.randint(12, 99), rng.randint(3, 9)]
    if skill == "div":
        digits = shape[0] if shape and shape[0] in (2, 3) else rng.choice((2, 3))
        b = rng.randint(2, 9)
        q = rng.randint(max(3, -(-10 ** (digits - 1) // b)), (10**digits - 1) // b)
        return [b * q, b]
    if skill == "two_step":
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        return [a, b, rng.randint(10, a)]
    if skill == "money":
        return [rng.randint(11, 99), rng.randint(2, 9)]
    return [rng.randint(1, 12), rng.randint(1, 59)]  # time: hours, minutes


def phrasing_of(skill: str, question: str) -> int | None:
    """Which of the skill's phrasings a question is written in, or None."""
    for k, template in enumerate(_TEMPLATES.get(skill, ())):
        pattern = re.sub(r"\\\{\w+\\\}", ".+?", re.escape(template))
        if re.fullmatch(pattern, question.strip()):
            return k
    return None


def focus_holds(skill: str, operands: list[int], focus: dict | None) -> bool:
    """Whether a problem exercises a targeted slip.

    `focus` keys (all optional): `carry_column` (an addition that carries out of that column,
    0 = ones), `borrow_column` (a subtraction that borrows in that column), `across_zero`
    (True: the borrow passes through a zero digit), `avoid_column` (no carry or borrow in that
    column: the easy half of a contrast pair)."""
    if not focus:
        return True
    a, b = operands[0], operands[1]
    regroups = (carry_columns(a, b) if skill == "add_carry" else
                borrow_columns(a, b) if skill == "sub_borrow" else [])
    if "carry_column" in focus and focus["carry_column"] not in regroups:
        return False
    if "borrow_column" in focus and focus["borrow_column"] not in regroups:
        return False
    if focus.get("across_zero") and not borrows_across_zero(a, b):
        return False
    return not ("avoid_column" in focus and focus["avoid_column"] in regroups)


def _draw_focused(skill: str, rng: random.Random, shape, focus: dict) -> list[int]:
    """Operands of `shape` that satisfy `focus` (rejection sampling), widening the shape when
    it cannot hold the targeted column (a 2-digit subtraction cannot borrow in the tens)."""
    if skill not in ("add_carry", "sub_borrow"):
        return _draw(skill, rng, shape)
    column = max(focus.get("carry_column", 0), focus.get("borrow_column", 0), focus.get("avoid_column", 0))
    shapes = [(2, 2), (2, 3), (3, 2), (3, 3)] if skill == "add_carry" else [(2, 2), (3, 2), (3, 3)]
    fits = [sh for sh in shapes if max(sh) > column + (skill == "sub_borrow" or focus.get("across_zero", False))]
    order = ([shape] if shape in fits else []) + rng.sample(fits, len(fits))
    for sh in order:
        for _ in range(2000):
            a, b = _rand(rng, sh[0]), _rand(rng, sh[1])
            if skill == "sub_borrow" and a <= b:
                continue
            if focus_holds(skill, [a, b], focus):
                return [a, b]
    return _draw(skill, rng, shape)


def _question(skill: str, phrasing: int, x: list[int], rng: random.Random) -> str:
    name, name2 = rng.sample(_NAMES, 2)
    item, items = rng.choice(_GOODS)
    fill = dict(name=name, name2=name2, obj=rng.choice(_OBJECTS), place=rng.choice(_PLACES),
                item=item, items=items, a=x[0], b=x[1] if len(x) > 1 else "", c=x[2] if len(x) > 2 else "")
    if skill == "money":
        fill.update(price=f"{x[0] / 100:.2f}", q=x[1])
    if skill == "time":
        fill.update(hours=f"{x[0]} hour{'s' if x[0] != 1 else ''}", m=x[1])
    return _TEMPLATES[skill][phrasing].format(**fill)


def _make(item_id: str, skill: str, phrasing: int, operands: list[int], rng: random.Random) -> Item:
    answer, target = solve(skill, operands)
    return {"id": item_id, "question": _question(skill, phrasing, operands, rng), "answer": answer,
            "target": target, "skill": skill, "phrasing": phrasing, "operands": list(operands),
            "held_out_phrasing": phrasing == HELD_OUT[skill]}


def _normalize_text(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


@register_task("arith")
class ArithTask(Task):
    """Seven arithmetic skills in word problems; see the module docstring for the design."""

    name = "arith"
    version = 1
    family = "math"
    categories = ARITH_CATEGORIES
    can_sample = True

    def __init__(self, seed: int = 0, n_mining: int = 192, n_validation: int = 256, n_test: int = 256):
        sizes = {"mining": n_mining, "validation": n_validation, "test": n_test}
        for split, n in sizes.items():
            if not isinstance(n, int) or n < 0:
                raise LaiError(f"arith: n_{split} must be an integer >= 0, got {n!r}")
        self.seed, self.sizes = seed, sizes
        self._splits: dict[str, list[Item]] | None = None

    # -------------------------------------------------------------- data

    def _fresh(self, skill: str, rng: random.Random, used: set[str], shape=None, focus=None) -> list[int]:
        for attempt in range(4000):
            if focus and attempt < 1000:
                operands = _draw_focused(skill, rng, shape, focus)
            else:
                operands = _draw(skill, rng, shape if attempt < 2000 else None)
            sig = self.signature({"skill": skill, "operands": operands})
            if sig not in used:
                used.add(sig)
                return operands
        raise LaiError(f"arith: ran out of distinct {skill} problems; use smaller split sizes")

    def _build(self) -> dict[str, list[Item]]:
        if self._splits is None:
            used: set[str] = set()
            splits = {}
            for split in ("test", "validation", "mining"):  # test first: it owns its content
                rng = random.Random(f"arith:{self.seed}:{split}")
                items = []
                for k in range(self.sizes[split]):
                    skill, j = SKILLS[k % len(SKILLS)], k // len(SKILLS)
                    ordinary = [p for p in range(len(_TEMPLATES[skill])) if p != HELD_OUT[skill]]
                    held = split == "test" and j % 2 == 0
                    phrasing = HELD_OUT[skill] if held else rng.choice(ordinary)
                    operands = self._fresh(skill, rng, used)
                    items.append(_make(f"arith-{split}-{k}", skill, phrasing, operands, rng))
                splits[split] = items
            self._splits = splits
        return self._splits

    def load(self, split: str, limit: int | None = None) -> list[Item]:
        """Items of `mining`, `validation` or `test`, skills interleaved (any prefix is balanced)."""
        if split not in SPLITS:
            raise LaiError(f"arith: unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        items = self._build()[split][:limit]
        return [{**it, "operands": list(it["operands"])} for it in items]

    def sample(self, n: int, seed: int, skill: str | None = None, like: Item | None = None,
               phrasing: int | None = None, focus: dict | None = None) -> list[Item]:
        """Fresh items from the ordinary phrasings, never equal to a validation or test item.

        Args:
            n: how many.
            seed: makes the draw deterministic.
            skill: one of `SKILLS`, or None for random skills (the "random control").
            like: an item whose digit counts to match (when it has this skill) and whose
                problem is not repeated.
            phrasing: use this phrasing (an ordinary one; the held-out one is refused).
            focus: the slip every item must exercise (`focus_holds`): e.g.
                `{"borrow_column": 1, "across_zero": True}`.

        Returns:
            `n` items with ids `arith-sample-<seed>-<k>`.
        """
        if skill is not None and skill not in SKILLS:
            raise LaiError(f"arith: unknown skill {skill!r}; expected one of {', '.join(SKILLS)}")
        if phrasing is not None and (skill is None or phrasing == HELD_OUT[skill]
                                     or not 0 <= phrasing < len(_TEMPLATES[skill])):
            raise LaiError(f"arith: phrasing {phrasing!r} is not an ordinary phrasing of {skill!r}")
        splits = self._build()
        used = {self.signature(it) for s in ("validation", "test") for it in splits[s]}
        if like and like.get("skill") in SKILLS and like.get("operands"):
            used.add(self.signature(like))
        rng = random.Random(f"arith-sample:{self.seed}:{seed}:{skill}")
        items = []
        for k in range(n):
            s = skill or rng.choice(SKILLS)
            shape = None
            if like and like.get("skill") == s and like.get("operands"):
                shape = tuple(len(str(abs(int(v)))) for v in like["operands"])
            ordinary = [p for p in range(len(_TEMPLATES[s])) if p != HELD_OUT[s]]
            p = phrasing if phrasing is not None else rng.choice(ordinary)
            operands = self._fresh(s, rng, used, shape, focus)
            items.append(_make(f"arith-sample-{seed}-{k}", s, p, operands, rng))
        return items

    solve = staticmethod(solve)

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
        """Markdown `### ` sections; the offline instructor parses exactly these headers."""
        parts = [("Question", item["question"]), ("Skill tag", item.get("skill") or "unknown")]
        if response is not None:
            parts += [("Student's answer", response.strip() or "(empty)"),
                      ("Student's final answer", self.extract(response) or "none")]
        parts += [("Correct solution", item["answer"]), ("Correct final answer", str(item["target"]))]
        return "\n\n".join(f"### {header}\n{body}" for header, body in parts)

    def parse_with_rejects(self, text: str) -> tuple[list[Item], list[dict]]:
        """`parse`, plus the blocks that could not be read (`{"text", "reason"}`) for rejects.jsonl."""
        raw, rejects = parse_numbered_problems(text)
        items = []
        for it in raw:
            digest = hashlib.sha1(f"{it['question']}\n{it['answer']}".encode()).hexdigest()[:10]
            skill = it.get("skill") if it.get("skill") in SKILLS else None
            items.append({"id": f"arith-gen-{digest}", "question": it["question"],
                          "answer": it["answer"], "target": it["target"], "skill": skill})
        return items, rejects

    def from_fields(self, fields: dict) -> Item | None:
        """An item from a structured (JSON) math sample: question, solution, answer, python."""
        question, solution = str(fields.get("question") or "").strip(), str(fields.get("solution") or "").strip()
        target = extract_answer(str(fields.get("answer", "")))
        if not question or not solution or target is None:
            return None
        if extract_answer(solution.splitlines()[-1]) is None or "####" not in solution:
            solution = f"{solution}\n#### {target}"
        digest = hashlib.sha1(f"{question}\n{solution}".encode()).hexdigest()[:10]
        item = {"id": f"arith-gen-{digest}", "question": question, "answer": solution,
                "target": target, "skill": None}
        if fields.get("python"):
            item["python"] = str(fields["python"])
        return item

    def verify(self, item: Item) -> tuple[bool, str]:
        """Equations true, `####` equal to the target, and (for our own items) the solver agrees."""
        if not str(item.get("question") or "").strip():
            return False, "empty question"
        ok, reason = check_equations(str(item.get("answer") or ""))
        if not ok:
            return False, reason
        final = extract_answer(item["answer"])
        if not answers_equal(final, item.get("target")):
            return False, f"target {item.get('target')} does not match the solution's final answer {final}"
        if item.get("skill") in SKILLS and item.get("operands"):
            try:
                _, gold = solve(item["skill"], item["operands"])
            except LaiError as e:
                return False, str(e)
            if not answers_equal(gold, item["target"]):
                return False, (f"target {item['target']} is wrong: "
                               f"{item['skill']} {item['operands']} gives {gold}")
        if item.get("python"):
            return python_matches(item["python"], item["target"])
        return True, "ok"

    def signature(self, item: Item) -> str:
        """`skill:op1,op2` for items with a skill whose operands are known or can be read back
        from the worked solution (so an LLM's text problem matches a split item with the same
        numbers), else the normalized question text."""
        skill = item.get("skill")
        operands = item.get("operands") or (
            operands_from_solution(skill, item.get("answer", "")) if skill in SKILLS else None)
        if skill and operands:
            return f"{skill}:{','.join(str(v) for v in operands)}"
        return _normalize_text(str(item.get("question", "")))

