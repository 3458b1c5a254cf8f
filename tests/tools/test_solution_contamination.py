"""Contamination through solutions: a generated sample whose worked solution contains the final
equation of a validation/test item (`45 * 7 = 315` in a `mul` sample and a `money` test item)
is dropped; trivial equations (digit facts, unit conversions, small results) never are. Solutions
here are literal strings, not whatever `ArithTask.solve` prints (its format may change)."""

import json
from pathlib import Path

import pytest

from lai.tools.curation import REASONS, curate
from lai.tools.equations import (
    final_equation, final_equation_leak, is_trivial, normalize_equation, solution_equations,
)

MONEY_TEST = {"id": "money-7", "skill": "money",
              "answer": "0.45 * 100 = 45\n45 * 7 = 315\n#### 315",
              "question": "One stamp costs $0.45. Ava buys 7 of them. How many cents does Ava pay?"}
TIME_TEST = {"id": "time-3", "skill": "time", "answer": "2 * 60 = 120\n120 + 35 = 155\n#### 155",
             "question": "A movie lasts 2 hours and 35 minutes. How many minutes long is it?"}
TWO_STEP_TEST = {"id": "two-step-1", "skill": "two_step",
                 "answer": "38 + 47 = 85\n85 - 26 = 59\n#### 59",
                 "question": "Ben had 38 cards, bought 47 more and gave 26 away. How many now?"}


class StubTask:
    """Verification and signature out of the way: only the solution rule is under test."""
    name, family = "stub", "math"

    def verify(self, item):
        return True, "ok"

    def signature(self, item):
        return item["question"]


def sample(sample_id: str, answer: str, question: str | None = None) -> dict:
    return {"id": sample_id, "question": question or f"Generated problem {sample_id}.",
            "answer": answer, "target": answer.rsplit("####", 1)[-1].strip(),
            "source_error": sample_id}


# ---------------------------------------------------------------- normalisation and triviality

def test_the_same_equation_written_differently_is_one_string():
    same = ["45*7=315", "45 * 7 = 315", "7 * 45 = 315", "7*45 = 315.0", "45 x 7 = 315"]
    assert {final_equation(f"{e}\n#### 315") for e in same} == {"7 * 45 = 315"}
    assert normalize_equation("120 + 35 = 155") == normalize_equation("35+120=155")
    assert normalize_equation("12 + 30 + 5 = 47") == normalize_equation("5 + 30 + 12 = 47")
    # order matters where it changes the meaning
    assert normalize_equation("85 - 26 = 59") != normalize_equation("26 - 85 = 59")
    assert normalize_equation("(12 + 3) * 4 = 60") == normalize_equation("4 * (3 + 12) = 60")
    # GSM8K style: calculator annotations, thousands commas and units are read through
    assert solution_equations("She pays $1,200 * 3 = $<<1200*3=3600>>3,600.\n#### 3600") == {
        "3 * 1200 = 3600"}


@pytest.mark.parametrize("equation", [
    "3 * 60 = 180", "180 / 60 = 3", "0.45 * 100 = 45", "45 / 100 = 0.45", "1000 * 12 = 12000",
    "7 + 5 = 12", "4 + 8 + 1 = 13", "10 + 2 - 8 = 4", "40 * 6 = 240", "400 * 7 = 2800",
    "300 + 40 + 5 = 345", "9 * 2 = 18", "45 - 30 = 15",
])
def test_trivial_equations(equation):
    assert is_trivial(equation)


@pytest.mark.parametrize("equation", [
    "45 * 7 = 315", "120 + 35 = 155", "85 - 26 = 59", "476 / 4 = 119", "1.5 * 20 = 30",
])
def test_non_trivial_equations(equation):
    assert not is_trivial(equation)


def test_column_work_and_partial_products_are_ignored():
    add = ("ones: 7 + 5 = 12, carry 1\ntens: 4 + 8 + 1 = 13, carry 1\nhundreds: 2 + 1 + 1 = 4\n"
           "247 + 185 = 432\n#### 432")
    assert solution_equations(add) == {"185 + 247 = 432"}
    mul = "40 * 7 = 280\n5 * 7 = 35\n280 + 35 = 315\n45 * 7 = 315\n#### 315"
    assert solution_equations(mul) == {"35 + 280 = 315", "7 * 45 = 315"}
    assert final_equation(mul) == "7 * 45 = 315"
    assert final_equation("3 * 60 = 180\n0.45 * 100 = 45\n#### 45") is None
    assert final_equation("no arithmetic here\n#### 4") is None


# ---------------------------------------------------------------- the curation rule

def test_a_sample_holding_a_held_out_final_equation_is_dropped():
    held = {f"test {it['id']}": it["answer"] for it in (MONEY_TEST, TIME_TEST, TWO_STEP_TEST)}
    samples = [
        sample("mul-leak", "Each bag holds 45. 45 * 7 = 315\n#### 315",
               "Noah buys 7 bags of 45 marbles. How many marbles?"),
        sample("mul-swapped", "7 * 45 = 315\n#### 315"),
        sample("add-leak-mid", "120 + 35 = 155\n155 - 40 = 115\n#### 115"),   # mid-solution
        sample("mul-new-format",
               "40 * 7 = 280\n5 * 7 = 35\n280 + 35 = 315\n45 * 7 = 315\n#### 315"),
        # trivial equations shared with held-out solutions never drop a sample
        sample("trivial-hours", "3 * 60 = 180\n180 + 12 = 192\n#### 192"),
        sample("trivial-cents", "0.45 * 100 = 45\n45 * 3 = 135\n#### 135"),
        sample("trivial-column",
               "ones: 7 + 5 = 12, carry 1\ntens: 3 + 2 + 1 = 6\n37 + 25 = 62\n#### 62"),
        sample("trivial-same-hours", "2 * 60 = 120\n120 + 36 = 156\n#### 156"),
        # a held-out *intermediate* equation is not the answer: kept
        sample("shares-intermediate", "38 + 47 = 85\n85 - 19 = 66\n#### 66"),
    ]
    kept, rejected, counts = curate(StubTask(), samples, budget=100, held_out_solutions=held)
    reasons = {r["id"]: r["reject_reason"] for r in rejected}
    assert set(reasons) == {"mul-leak", "mul-swapped", "add-leak-mid", "mul-new-format"}
    assert reasons["mul-leak"] == ("solution contamination: '7 * 45 = 315' is the final equation "
                                   "of validation/test item test money-7")
    assert reasons["add-leak-mid"].endswith("test time-3")
    assert counts == {"kept": 5, "rejected": 4, "solution contamination": 4}
    assert "solution contamination" in REASONS
    # without held-out solutions the rule is off (old callers)
    assert curate(StubTask(), samples, budget=100)[2] == {"kept": 9, "rejected": 0}
    # a list of solutions works too; the key is then the position
    _, rejected, _ = curate(StubTask(), samples[:1], budget=100,
                            held_out_solutions=[TIME_TEST["answer"], MONEY_TEST["answer"]])
    assert rejected[0]["reject_reason"].endswith("validation/test item 1")


def test_text_contamination_is_reported_first():
    """A copied test item is `contaminated` (signature), not solution contamination."""
    copy = {**MONEY_TEST, "source_error": "e"}
    _, rejected, counts = curate(StubTask(), [copy], budget=10, held_out={MONEY_TEST["question"]},
                                 held_out_solutions={MONEY_TEST["id"]: MONEY_TEST["answer"]})
    assert counts == {"kept": 0, "rejected": 1, "contaminated": 1}


# ---------------------------------------------------------------- the leak measure

def test_final_equation_leak_on_a_constructed_case():
    held = [MONEY_TEST, TIME_TEST, TWO_STEP_TEST,
            {"id": "trivial-1", "answer": "3 * 60 = 180\n#### 180"},   # no final equation
            {"id": "div-2", "answer": "476 / 4 = 119\n#### 119"}]
    train = [
        {"answer": "7*45 = 315\n#### 315"},                     # leaks money-7
        {"answer": "35 + 120 = 155\n155 * 2 = 310\n#### 310"},  # leaks time-3 (mid-solution)
        {"answer": "38 + 47 = 85\n#### 85"},                    # an intermediate of two-step-1: no
        {"answer": "3 * 60 = 180\n#### 180"},                   # trivial: no
        "476 / 2 = 238\n#### 238",                              # plain text works too
    ]
    assert final_equation_leak(train, held) == {
        "items": 5, "with_final_equation": 4, "leaked": 2, "fraction": 0.4,
        "examples": ["money-7", "time-3"]}
    assert final_equation_leak([], held)["fraction"] == 0.0
    assert final_equation_leak(train, {"a": "7 * 45 = 315", "b": "9 * 9 = 81"})["examples"] == ["a"]
    assert final_equation_leak(train, [])["fraction"] == 0.0


# ---------------------------------------------------------------- on real data

def test_arith_leak_before_and_after_the_rule(capsys):
    """2000 random `arith` samples as "training" against 256 validation + 1024 test items: before
    the rule a tenth or more of the test items have their final equation in the training data
    (`45 * 7` is both a `mul` and a `money` problem); after it, none."""
    from lai.tools.tasks.arith import ArithTask

    task = ArithTask(seed=0, n_test=1024, n_validation=256)
    val, test = task.load("validation"), task.load("test")
    held = {f"{split} {it['id']}": it["answer"] for split, items in (("validation", val),
                                                                     ("test", test))
            for it in items}
    train = task.sample(2000, seed=1)
    before = final_equation_leak(train, test)
    kept, rejected, counts = curate(task, train, budget=2000, held_out_solutions=held)
    after = final_equation_leak(kept, test)
    after_val = final_equation_leak(kept, val)
    held_eqs = set().union(*(solution_equations(s) for s in held.values()))
    any_rule = sum(bool(solution_equations(s["answer"]) & held_eqs) for s in train)
    with capsys.disabled():
        print(f"\narith 2000 samples vs {len(held)} held-out: solution contamination drops "
              f"{counts.get('solution contamination', 0)} (an any-equation rule: {any_rule}); "
              f"test leak {before['fraction']:.3f} -> {after['fraction']:.3f}")
    assert before["fraction"] > 0.01
    assert after["fraction"] < 0.01 and after_val["fraction"] < 0.01
    assert counts["kept"] + counts.get("solution contamination", 0) == 2000
    assert counts.get("solution contamination", 0) <= any_rule


GSM8K = Path(__file__).resolve().parents[3] / "shared" / "data" / "gsm8k" / "test.jsonl"
GSM8K_TRAIN = GSM8K.parents[1] / "mistral7b_errors" / "gsm8k" / "train_right.jsonl"


@pytest.mark.skipif(not (GSM8K.exists() and GSM8K_TRAIN.exists()),
                    reason="shared GSM8K data not present")
def test_gsm8k_train_solutions_against_gsm8k_test_finals(capsys):
    """The cost of the rule on GSM8K-style data: ordinary GSM8K *train* solutions share common
    small facts (`2 * 12 = 24`, `3 * 15 = 45`) with GSM8K test final steps. Pinned, so that a
    change of the triviality rule is seen."""
    test = {f"gsm8k-{i}": json.loads(line)["answer"] for i, line in enumerate(GSM8K.open())}
    train = [json.loads(line)["answer"] for line in GSM8K_TRAIN.open()]
    finals = {final_equation(s) for s in test.values()} - {None}
    held_eqs = set().union(*(solution_equations(s) for s in test.values()))
    final_rule = sum(bool(solution_equations(s) & finals) for s in train)
    any_rule = sum(bool(solution_equations(s) & held_eqs) for s in train)
    leak = final_equation_leak(train, test)
    with capsys.disabled():
        print(f"\nGSM8K {len(train)} train solutions vs {len(test)} test: final rule drops "
              f"{final_rule}, any-equation rule {any_rule}; test leak {leak['fraction']:.3f}")
    assert (final_rule, any_rule, leak["leaked"]) == (545, 761, 222)
