"""Worked solutions (equations, the numbered problem format) and the answers module they use:
one rule for reading and comparing numeric answers (`tools/tasks/answers.py`)."""

import pytest

from lai.tools.tasks.answers import answers_equal, extract_answer, stated_answer, working_and_answer
from lai.tools.tasks.numeric import check_equations, find_equations, parse_numbered_problems


@pytest.mark.parametrize("text, expected", [
    ("Janet sells 9 eggs.\n#### 18", "18"),
    ("#### 5 apples, not 7", "5"),  # the number after ####, not the last one
    ("#### 1 then more text #### 2", "2"),  # the last ####
    ("So the total is 1,234.", "1234"),
    ("#### $1,234,567.00", "1234567"),
    ("It costs $48.", "48"),
    ("The change is -3 dollars", "-3"),
    ("#### -12", "-12"),
    ("10-3 = 7", "7"),  # a hyphen after a digit is not a sign
    ("half is 2.50", "2.5"),
    ("about .5 of it", "0.5"),
    ("#### \n but 42 later", "42"),  # empty #### falls back to the last number
    ("no numbers here", None),
    ("", None),
    (None, None),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_answers_equal():
    assert answers_equal("48", "48.0")
    assert answers_equal("1,000", 1000)
    assert answers_equal("$5", "5")
    assert not answers_equal("48", "49")
    assert not answers_equal(None, "1")
    assert not answers_equal("abc", "1")


@pytest.mark.parametrize("solution", [
    "12 * 4 = 48\n#### 48",
    "He has 12 apples x 4 = 48 apples.\n48 - 8 = 40\n#### 40",
    "$12 × 4 = $48\n#### $48",
    "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18",
    "3 * 4 = 12 * 2 = 24\n#### 24",
    "10 / 3 = 3.33\n#### 3.33",
    "80,000*1.5=120,000\n#### 120,000",
    "0.45 * 100 = 45\n45 * 6 = 270\n#### 270",
    "Step 2. 12 + 5 = 17\n#### 17",
])
def test_check_equations_accepts(solution):
    assert check_equations(solution) == (True, "ok")


@pytest.mark.parametrize("solution, reason", [
    ("12 * 4 = 46\n#### 46", "equation '12 * 4 = 46' is wrong"),
    ("12 * 4 = 48\n#### 40", "final answer 40 does not match last result 48"),
    ("12 * 4 = 48", "no final answer line"),
    ("12 * 4 = 48\n#### none", "no final answer line"),
    ("I just know it.\n#### 4", "no equation found"),
    ("10 / 3 = 3\n#### 3", "equation '10 / 3 = 3' is wrong"),
    ("7 ÷ 0 = 1\n#### 1", "is wrong"),
])
def test_check_equations_rejects(solution, reason):
    ok, why = check_equations(solution)
    assert not ok and reason in why


def test_find_equations_splits_chains():
    assert [e.text for e in find_equations("3 * 4 = 12 * 2 = 24")] == ["3 * 4 = 12", "12 * 2 = 24"]


PAPER_FORMAT = """Here are the problems:

1. Question: Tom has 12 apples and buys 5 more. How many apples does he have?
Answer: 12 + 5 = 17
#### 17

2. Question: Mia has 40 pens and gives away 8. How many are left?
Answer: 40 - 8 = 32
#### 32
"""

MARKDOWN_AND_JUNK = """Sure! Practice problems:

**1. Question:** Tom has 12 apples and buys 5 more. How many apples?
**Answer:** 12 + 5 = 17
#### 17


**Question 2:** Mia has 40 pens.
She gives away 8. How many are left?

**Answer:**
40 - 8 = 32
#### $32.

Q: A box holds 6 rows of 7 cans. How many cans? A: 6 x 7 = 42
#### 42

Problem 4: This one lost its answer.

5. Question: Sam reads 3 pages. Answer: 3 * 1 = 3 and then nothing final

Question: What is 3 times 4?
Skill tag: mul
Answer: 3 * 4 = 12
#### 12
Hope this helps!
"""


def test_parse_paper_format():
    items, rejects = parse_numbered_problems(PAPER_FORMAT)
    assert rejects == []
    assert items == [
        {"question": "Tom has 12 apples and buys 5 more. How many apples does he have?",
         "answer": "12 + 5 = 17\n#### 17", "target": "17"},
        {"question": "Mia has 40 pens and gives away 8. How many are left?",
         "answer": "40 - 8 = 32\n#### 32", "target": "32"},
    ]


def test_parse_markdown_variants_and_junk():
    items, rejects = parse_numbered_problems(MARKDOWN_AND_JUNK)
    assert [it["target"] for it in items] == ["17", "32", "42", "12"]
    assert items[1]["question"] == "Mia has 40 pens. She gives away 8. How many are left?"
    assert items[1]["answer"] == "40 - 8 = 32\n#### 32"
    assert items[3]["skill"] == "mul" and items[3]["question"] == "What is 3 times 4?"
    assert "Hope" not in items[3]["answer"]
    assert sorted(r["reason"] for r in rejects) == ["no 'Answer:' label", "no final '#### <number>' line"]
    assert all(check_equations(it["answer"])[0] for it in items)


def test_parse_without_labels_or_numbers():
    items, _ = parse_numbered_problems("1. Tom has 3 apples and 4 more. How many?\nAnswer: 3 + 4 = 7\n#### 7")
    assert items[0]["question"] == "Tom has 3 apples and 4 more. How many?"
    items, _ = parse_numbered_problems("Question: What is 2 + 2?\n\n\nAnswer: 2 + 2 = 4\n\n#### 4")
    assert items == [{"question": "What is 2 + 2?", "answer": "2 + 2 = 4\n#### 4", "target": "4"}]
    assert parse_numbered_problems("") == ([], [])
    assert parse_numbered_problems("I cannot help with that.") == ([], [])


def test_minus_between_numbers_is_not_a_sign_and_big_numbers_are_exact():
    assert extract_answer("144 - 72") == "72"
    assert extract_answer("The result is -5.") == "-5"
    assert extract_answer("#### -18") == "-18"
    assert not answers_equal(2880001, 2880000)
    assert answers_equal("2.5", 2.50) and answers_equal("0.1", 0.1 + 1e-12)


def test_one_minus_rule_for_every_math_task():
    # after a digit, `)` or `%` a minus is binary: one rule where arith and math once differed
    assert extract_answer("It rose 50% - 20 fell") == "20"
    assert extract_answer("(3 + 4) - 2") == "2"
    assert extract_answer("#### 3/4") == "3/4"  # a fraction after ####, never its numerator


@pytest.mark.parametrize("text, value, kept", [
    ("So 20 + 25 = 45. The answer is 45.", "45", "So 20 + 25 = 45. The answer is 45."),
    ("20 + 25 = 45\nAnswer: 45", "45", None),  # a bare label line is not working
    ("20 + 25 = 45\nFinal answer: $45", "45", None),
    ("20 + 25 = \\boxed{45}", "45", "20 + 25 = 45"),
    ("The answer is 40.\nNo wait, the answer is \\boxed{45}.", "45", "No wait, the answer is 45."),
    ("The answer is 7.\nAnswer: 45", "45", None),  # a label beats prose
    ("the final answer is 3/4 of a pie", "3/4", "the final answer is 3/4 of a pie"),
])
def test_stated_answer_order_boxed_then_label_then_prose(text, value, kept):
    stated = stated_answer(text)
    assert (stated.value, stated.line) == (value, kept)


def test_stated_answer_needs_a_number():
    assert stated_answer("The answer is unclear.") is None
    assert stated_answer("20 + 25 = 45") is None
    assert stated_answer(None) is None


def test_working_and_answer_prefers_the_last_hash_line():
    assert working_and_answer("1 + 1 = 2\nThe answer is 2.\n#### 3") == (["1 + 1 = 2", "The answer is 2."], "3")
    assert working_and_answer("So 5 + 3 = 8 #### 8") == (["So 5 + 3 = 8"], "8")
    assert working_and_answer("5 + 3 = 8\n#### eight") is None  # a #### line must hold a number


def test_parse_accepts_a_stated_answer_without_hash_line():
    """issue 11: a sample ending "The answer is 45." was dropped; it now parses, with `#### 45`."""
    items, rejects = parse_numbered_problems(
        "1. Question: Ann has 20 pens and buys 25. How many pens?\nAnswer: 20 + 25 = 45\nThe answer is 45.\n\n"
        "2. Question: Ben has 9 cards and gets 3. How many cards?\nAnswer: 9 + 3 = 12\n**Answer: 12**\n\n"
        "3. Question: Cy has 4 hats. How many hats?\nAnswer: 4 hats, I think")
    assert [it["answer"] for it in items] == ["20 + 25 = 45\nThe answer is 45.\n#### 45", "9 + 3 = 12\n#### 12"]
    assert all(check_equations(it["answer"])[0] for it in items)
    assert [r["reason"] for r in rejects] == ["no final '#### <number>' line"]
