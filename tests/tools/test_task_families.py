"""The benchmark task families on real rows: grading, the real Mistral-7B answers re-graded,
parsing instructor replies in the paper's formats, and verification of planted bad samples.

Runs on the full shared files when present, else on the excerpts in `tests/data/`
(`tests/benchmark_data.py`): counts name both. `LAI_FULL_REGRADE=1` re-runs every Mistral-7B
MBPP completion (462, ~30 s on 2 cores) instead of a fixed subset."""

import json
import os

import pytest

from lai.tools.tasks import Task, get_task
from lai.tools.tasks.choice import extract_choice
from lai.tools.tasks.code import extract_code
from tests.benchmark_data import DATA, FULL
from lai.tools.tasks.answers import answers_equal, extract_answer

SPLITS = ("mining", "validation", "test")


def _all(task):
    return [it for s in SPLITS for it in task.load(s)]


def _rows(rel):
    with open(DATA / rel, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def gsm8k():
    return get_task("gsm8k")


@pytest.fixture(scope="module")
def mmlu():
    return get_task("mmlu")


@pytest.fixture(scope="module")
def mbpp():
    return get_task("mbpp")


@pytest.mark.parametrize("name, family", [
    ("gsm8k", "math"), ("gsm_plus", "math"), ("math_jsonl", "math"),
    ("mmlu", "multiple_choice"), ("arc_challenge", "multiple_choice"), ("choice_jsonl", "multiple_choice"),
    ("mbpp", "code"), ("humaneval", "code"), ("code_jsonl", "code"),
])
def test_registered_with_the_full_protocol(name, family):
    task = get_task(name)
    assert isinstance(task, Task) and task.family == family and task.name == name
    # their own parsing, structured samples and split record; code grades in one sandbox pool
    for method in ("parse_with_rejects", "from_fields", "split_info"):
        assert getattr(type(task), method) is not getattr(Task, method), method
    assert (type(task).grade_many is not Task.grade_many) == (family == "code")


# ---------------------------------------------------------------- math


def test_gsm8k_gold_solutions_grade_right_and_a_wrong_number_does_not(gsm8k):
    items = _all(gsm8k)
    assert len(items) == len(_rows("gsm8k/test.jsonl")) == (1319 if FULL else 24)
    assert all(gsm8k.grade(gsm8k.extract(it["answer"]), it) for it in items)
    assert all(gsm8k.verify(it) == (True, "ok") for it in items)
    # the raw file rows (with <<calculator>> annotations) grade the same
    raw = _rows("gsm8k/test.jsonl")
    by_q = {it["question"]: it for it in items}
    assert all(gsm8k.grade(gsm8k.extract(r["answer"]), by_q[r["question"].strip()]) for r in raw)
    for it in items[:200]:
        wrong = str(int(float(it["target"])) + 1)
        assert not gsm8k.grade(gsm8k.extract(f"{it['answer'].rsplit('####', 1)[0]}#### {wrong}"), it)
        assert not gsm8k.grade(None, it)


def test_gsm8k_item_shape(gsm8k):
    it = gsm8k.load("test")[0]
    assert set(it) == {"id", "question", "answer", "target"} and "<<" not in it["answer"]
    assert it["answer"].endswith(f"#### {it['target']}")
    assert gsm8k.prompt(it)[0]["content"].endswith("as '#### <number>'.")
    assert gsm8k.completion(it) == it["answer"]


def test_gsm_plus_gold_fractions_and_types():
    task = get_task("gsm_plus")
    items = _all(task)
    assert len(items) == len(_rows("gsm8k_plus/test.jsonl")) == (1400 if FULL else 61)
    assert {it["skill"] for it in items} >= {"digit expansion", "distractor insertion"}
    right = sum(task.grade(task.extract(it["answer"]), it) for it in items)
    # 8 gold solutions have several "####"; the label is the first one, the paper grades the last.
    assert right >= (1390 if FULL else len(items) - 7), right
    fractions = [it for it in items if "/" in it["target"]]
    assert len(fractions) == 6
    assert all(task.grade(task.extract(it["answer"]), it) for it in fractions)
    quarter = next(it for it in fractions if it["target"] == "1/4")
    assert task.grade("0.25", quarter) and not task.grade("4", quarter)


def test_math_answer_rules():
    assert extract_answer("So 5 + 3 = 8.\n#### 8") == "8"
    assert extract_answer("#### $1,234.50") == "1234.5"
    assert extract_answer("She pays $144 - $72 = $72") == "72"
    assert extract_answer("He has 144 - 72") == "72"  # a minus between numbers is not a sign
    assert extract_answer("It drops to -5 degrees.") == "-5"
    assert extract_answer("#### 3/2 hours") == "3/2"
    assert extract_answer("#### None of them.") == "none of them"
    assert extract_answer("no numbers here") is None
    assert answers_equal("1.5", "3/2") and answers_equal("0.33", "1/3") and not answers_equal("0.3", "1/3")
    assert answers_equal("none", "None") and not answers_equal("5", "None")
    assert answers_equal("18.0", "18") and not answers_equal("18.1", "18")
    assert answers_equal("0.30000000000000004", "0.3") and not answers_equal("2880001", "2880000")


def test_non_numeric_targets_keep_or_skip(tmp_path):
    path = tmp_path / "ct.jsonl"
    rows = [{"question": f"Q{i}?", "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"} for i in range(9)]
    rows.append({"question": "How many days has a leap February when it rains?",
                 "answer": "The question does not say.\n#### None", "type": "critical thinking"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    keep = get_task("math_jsonl", path=str(path))
    item = next(it for it in _all(keep) if it["target"] == "None")
    assert keep.grade(keep.extract("It cannot be known.\n#### None"), item)
    assert not keep.grade(keep.extract("#### 29"), item)
    skip = get_task("math_jsonl", path=str(path), non_numeric="skip")
    assert len(_all(skip)) == 9
    assert skip.split_info()["sources"][0]["skipped"] == {"non-numeric answer (non_numeric: skip)": 1}


def test_mistral_gsm8k_right_answers_regrade_right(gsm8k):
    rows = _rows("mistral7b_errors/gsm8k/train_right.jsonl")
    agree = sum(gsm8k.grade(gsm8k.extract(r["response"]), gsm8k.convert(r, "x")) for r in rows)
    print(f"\nMistral-7B GSM8K right answers re-graded right: {agree}/{len(rows)} = {agree / len(rows):.2%}")
    assert agree / len(rows) >= 0.995


# ---------------------------------------------------------------- multiple choice


@pytest.mark.parametrize("response, letter", [
    ("Let me think. Therefore, the answer is C.", "C"),
    ("The answer is (B).", "B"),
    ("the answer is: **D**", "D"),
    ("So the correct answer is option A, because ...", "A"),
    ("Reasoning...\nAnswer: B", "B"),
    ("Answer: (C) 42", "C"),
    ("A is tempting, but the answer is D", "D"),
    ("The answer is not A. Answer: C", "C"),
    ("After weighing them all, I pick (B)", "B"),
    ("B", "B"),
    ("**C**", "C"),
    ("C. The primary transcripts of many genes can be spliced in various ways", "C"),
    ("A farmer plants wheat, which is the most likely outcome", None),
    ("I do not know.", None),
    ("", None),
])
def test_letter_extraction(response, letter):
    assert extract_choice(response) == letter


def test_mmlu_items(mmlu):
    items = _all(mmlu)
    assert len(items) == len(_rows("mmlu/train.jsonl")) == (1816 if FULL else 24)
    it = items[0]
    assert set(it["choices"]) == set("ABCD") and it["target"] in "ABCD"
    assert it["answer"] == f"The answer is {it['target']}." and it["skill"]
    assert mmlu.grade(mmlu.extract(mmlu.completion(it)), it)
    text = mmlu.show(it, "I think it is (A). The answer is A.")
    for header in ("### Question", "### Options", "### Student's answer", "### Student's chosen option",
                   "### Correct option"):
        assert header in text
    assert "A. " in mmlu.prompt(it)[0]["content"] and "The answer is X" in mmlu.prompt(it)[0]["content"]


def test_arc_labels_relabelled_and_odd_option_counts():
    task = get_task("arc_challenge")
    items = _all(task)
    assert len(items) == len(_rows("arc_challenge/test.jsonl")) == (1172 if FULL else 44)
    numeric = [it for it in items if it.get("labels") in (["1", "2", "3", "4"], ["1", "2", "3"])]
    assert len(numeric) == 22
    raw = {r["id"]: r for r in _rows("arc_challenge/test.jsonl")}
    for it in numeric:
        r = raw[it["id"]]
        assert it["choices"][it["target"]] == r[r["answer"]]
    counts = sorted(len(it["choices"]) for it in items)
    assert counts.count(3) == 4 and counts.count(5) == 3
    five = next(it for it in items if len(it["choices"]) == 5)
    assert list(five["choices"]) == list("ABCDE") and "one of A, B, C, D, E" in task.prompt(five)[0]["content"]
    assert task.grade("E", {**five, "target": "E"})


def test_mistral_mmlu_answers_regrade(mmlu):
    """The paper's right/wrong labels of Mistral-7B's MMLU answers, re-graded from `response`."""
    rates = {}
    for kind in ("right", "wrong"):
        rows = _rows(f"mistral7b_errors/mmlu/train_{kind}.jsonl")
        graded = [(mmlu.extract(r["response"]), mmlu.grade(mmlu.extract(r["response"]), {"target": r["answer"]}))
                  for r in rows]
        agree = sum(g == (kind == "right") for _, g in graded)
        lettered = [(x, g) for x, g in graded if x is not None]
        agree_lettered = sum(g == (kind == "right") for _, g in lettered)
        rates[kind] = (agree / len(rows), agree_lettered / len(lettered))
        print(f"\nMistral-7B MMLU train_{kind}: agree {agree}/{len(rows)} = {agree / len(rows):.1%}; "
              f"with a letter found {agree_lettered}/{len(lettered)} = {agree_lettered / len(lettered):.1%}")
    # "Right" replies that only restate an option's text get no letter: that is the gap.
    assert rates["right"][0] >= 0.85 and rates["wrong"][0] >= 0.97
    assert rates["right"][1] >= 0.99 and rates["wrong"][1] >= 0.97


# ---------------------------------------------------------------- code


def test_code_items_and_prompts(mbpp):
    it = mbpp.load("mining")[0]
    assert it["target"] == it["entry_point"] == "find_Min_Sum" and it["answer"] == ""
    assert "def check(candidate)" in it["test"]
    content = mbpp.prompt(it)[0]["content"]
    assert "```python\n" in content and "def find_Min_Sum(number: int) -> int:" in content
    assert mbpp.completion(it) == ""


def test_humaneval_reference_solutions_pass_and_broken_ones_fail():
    task = get_task("humaneval", workers=2)
    items = _all(task)[:40]
    ok = task.grade_many([task.extract(task.completion(it)) for it in items], items)
    assert all(ok)
    broken = [it["question"] + "    return None\n" for it in items[:10]]
    assert not any(task.grade_many(broken, items[:10]))
    assert task.grade(task.extract(task.completion(items[0])), items[0])
    assert task.verify(items[0]) == (True, "ok")


def test_code_extraction_styles():
    body = "    return a + b\n"
    assert extract_code(body) == body
    fenced = "Sure:\n```python\ndef add(a, b):\n    return a + b\n```\nUse it like add(1, 2)."
    assert extract_code(fenced) == "def add(a, b):\n    return a + b\n"
    two = "```python\nprint(add(1, 2))\n```\nand\n```python\ndef add(a, b):\n    return a + b\n```"
    assert extract_code(two).startswith("def add")
    bare = "Here is the function:\n\ndef add(a, b):\n    return a + b\n"
    assert extract_code(bare) == "def add(a, b):\n    return a + b\n"
    main = "```python\ndef add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n    print(add(input(), 2))\n```"
    assert "__main__" not in extract_code(main)
    truncated = "```python\ndef add(a, b):\n    return a + b"
    assert extract_code(truncated) == "def add(a, b):\n    return a + b\n"
    assert extract_code("   ") is None


def _mistral_mbpp(kind):
    rows = _rows(f"mistral7b_errors/mbpp/train_{kind}.jsonl")
    return rows if os.environ.get("LAI_FULL_REGRADE") else rows[::6]


def test_mistral_mbpp_passed_flags_reproduced(mbpp):
    """Re-run Mistral-7B's MBPP completions (`prompt + completion`, as the paper's harness did)."""
    rows = _mistral_mbpp("right") + _mistral_mbpp("wrong")
    items = [mbpp.convert(r, f"m{i}") for i, r in enumerate(rows)]
    graded = mbpp.grade_many([r["completion"] for r in rows], items)
    agree = sum(g == r["passed"] for g, r in zip(graded, rows))
    print(f"\nMistral-7B MBPP completions: passed flag reproduced {agree}/{len(rows)} = {agree / len(rows):.1%}")
    assert agree / len(rows) >= 0.97


def test_mistral_mbpp_from_responses(mbpp):
    """Graded from the raw `response` with our extraction (the whole fenced code): right ones
    still pass; some wrong ones now pass because the paper's harness kept only the function
    body and dropped the response's imports and helper functions."""
    rows = _mistral_mbpp("right")
    items = [mbpp.convert(r, f"m{i}") for i, r in enumerate(rows)]
    graded = mbpp.grade_many([mbpp.extract(r["response"]) for r in rows], items)
    print(f"\nMistral-7B MBPP right responses passing: {sum(graded)}/{len(rows)}")
    assert sum(graded) / len(rows) >= 0.95


def test_show_code_runs_the_tests(mbpp):
    it = mbpp.load("mining")[0]
    text = mbpp.show(it, "```python\ndef find_Min_Sum(number):\n    return 0\n```")
    assert "### Test result" in text and "AssertionError" in text and "### Tests" in text


# ---------------------------------------------------------------- parsing instructor replies


MATH_REPLY = """Here are practice problems for the student.

1. Question: Tom has 3 bags with 4 apples each. How many apples does he have?
Answer: 3 * 4 = 12
#### 12

**Question 2:** A pen costs $1.50. How much do 4 pens cost?
**Answer:** 1.50 * 4 = 6.00
#### 6

### Problem 3
Sara ate 1/4 of a pizza and then 1/4 more. What part of the pizza did she eat?
**Answer:** 1/4 + 1/4 = 1/2
#### 1/2
```python
from fractions import Fraction
answer = Fraction(1, 4) + Fraction(1, 4)
```

### Problem 4
Question: This one has no answer at all.

5. Question: Ann has 10 marbles and loses 3. How many are left?
Solution: 10 - 3 = 7
Final answer: 7
"""


def test_parse_math_reply(gsm8k):
    items, rejects = gsm8k.parse_with_rejects(MATH_REPLY)
    assert [it["target"] for it in items] == ["12", "6", "1/2", "7"]
    assert items[0]["question"].startswith("Tom has 3 bags") and items[0]["answer"] == "3 * 4 = 12\n#### 12"
    assert items[2]["python"].startswith("from fractions import Fraction")
    assert "```" not in items[2]["answer"]
    assert [r["reason"] for r in rejects] == ["no 'Answer:' label"]
    assert all(it["id"].startswith("gsm8k-gen-") for it in items)
    assert gsm8k.parse(MATH_REPLY) == items


CHOICE_REPLY = """1. Question: What is the boiling point of water at sea level?
A. 50 C
B. 100 C
C. 150 C
D. 200 C
Answer: B
Explanation: Water boils at 100 degrees Celsius at standard pressure.

2. Question: Which planet is the largest?
(A) Mars
(B) Jupiter
(C) Earth
(D) Venus
Answer: (B) Jupiter

### Problem 3
**Question:** Which gas do plants absorb for photosynthesis?
A) Oxygen  B) Carbon dioxide  C) Nitrogen  D) Helium
**Answer:** B
**Explanation:** Photosynthesis uses CO2. The answer is B.

### Problem 4
Which animal is a mammal?
A. Shark
B. Whale
C. Trout
The answer is B because whales breathe air and nurse their young.

5. Question: A question with no options.
Answer: C
"""


def test_parse_choice_reply(mmlu):
    items, rejects = mmlu.parse_with_rejects(CHOICE_REPLY)
    assert [it["target"] for it in items] == ["B", "B", "B", "B"]
    assert items[0]["choices"] == {"A": "50 C", "B": "100 C", "C": "150 C", "D": "200 C"}
    assert items[0]["answer"] == ("Water boils at 100 degrees Celsius at standard pressure.\n"
                                  "The answer is B.")
    assert items[1]["answer"] == "The answer is B."
    assert items[2]["choices"]["B"] == "Carbon dioxide"
    assert items[3]["choices"] == {"A": "Shark", "B": "Whale", "C": "Trout"}
    assert [r["reason"] for r in rejects] == ["no options A., B., ..."]
    assert all(mmlu.verify(it) == (True, "ok") for it in items)


CODE_REPLY = '''Here are two new problems.

### Problem 1
Write a function `count_vowels(s)` that returns the number of vowels in a string.

**Solution:**
```python
import re

def count_vowels(s: str) -> int:
    return len(re.findall(r"[aeiouAEIOU]", s))
```

**Tests:**
```python
assert count_vowels("hello") == 2
assert count_vowels("") == 0
```

### Problem 2
```python
from typing import List


def running_max(xs: List[int]) -> List[int]:
    """ Return the running maximum of xs.
    >>> running_max([1, 3, 2])
    [1, 3, 3]
    """
```
Solution:
```python
from typing import List


def running_max(xs: List[int]) -> List[int]:
    out, best = [], None
    for x in xs:
        best = x if best is None else max(best, x)
        out.append(best)
    return out
```
Tests:
assert running_max([1, 3, 2]) == [1, 3, 3]
assert running_max([]) == []

3. Task: Reverse the words of a sentence.
```python
def reverse_words(s):
    return " ".join(s.split()[::-1])

assert reverse_words("a b c") == "c b a"
```

4. Task: This one has no tests.
```python
def ident(x):
    return x
```
'''


def test_parse_code_reply(mbpp):
    items, rejects = mbpp.parse_with_rejects(CODE_REPLY)
    assert [it["entry_point"] for it in items] == ["count_vowels", "running_max", "reverse_words"]
    first = items[0]
    assert first["question"].startswith("import re\n") and "def count_vowels(s: str) -> int:" in first["question"]
    assert "number of vowels" in first["question"] and "return len" not in first["question"]
    assert first["test"] == ('def check(candidate):\n    assert candidate("hello") == 2\n'
                             '    assert candidate("") == 0\n')
    assert '>>> running_max([1, 3, 2])' in items[1]["question"]  # the stub fence is the prompt
    assert "Reverse the words" in items[2]["question"]
    assert [r["reason"] for r in rejects] == ["no tests (asserts or a check function)"]
    assert all(mbpp.verify(it) == (True, "ok") for it in items)
    # a generated item graded like a benchmark one: its own completion passes
    assert mbpp.grade_many([mbpp.extract(mbpp.completion(it)) for it in items], items) == [True] * 3


# ---------------------------------------------------------------- from_fields and verification


def test_math_from_fields_and_verify_planted_errors(gsm8k):
    task = get_task("gsm8k", python_timeout=3)
    good = task.from_fields({"question": "Tom has 3 bags of 4 apples. How many apples?",
                             "solution": "3 * 4 = 12", "answer": 12, "python": "answer = 3 * 4"})
    assert good["answer"] == "3 * 4 = 12\n#### 12" and good["target"] == "12"
    assert task.verify(good) == (True, "ok")
    assert task.verify({**good, "python": "def solution():\n    return 12"}) == (True, "ok")
    assert task.verify({**good, "target": "13"}) == (
        False, "target 13 does not match the solution's final answer 12")
    assert task.verify({**good, "python": "answer = 3 + 4"}) == (False, "python computes 7, not the target 12")
    assert task.verify({**good, "python": "print(12)"}) == (False, "python defines no variable `answer`")
    assert task.verify({**good, "python": "answer = 1 / 0"})[1].startswith("python failed: ZeroDivisionError")
    assert task.verify({**good, "answer": "3 * 4 = 12"}) == (False, "no final '####' answer in the solution")
    assert task.from_fields({"question": "q", "solution": "s"}) is None
    assert task.signature(good) == task.signature({"question": "Tom has 3 bags of 4 apples, how many apples"})


def test_choice_from_fields_and_verify_planted_errors(mmlu):
    good = mmlu.from_fields({"question": "Which is a prime number?", "options": {"A": "4", "B": "6", "C": "7", "D": "9"},
                             "answer": "C", "explanation": "7 has no divisors but 1 and itself."})
    assert good["answer"] == "7 has no divisors but 1 and itself.\nThe answer is C."
    assert mmlu.verify(good) == (True, "ok")
    dup = {**good, "choices": {"A": "4", "B": "7", "C": "7", "D": "9"}}
    assert mmlu.verify(dup) == (False, "two options are the same")
    assert mmlu.verify({**good, "target": "E"}) == (False, "answer key 'E' is not one of the options A, B, C, D")
    assert mmlu.verify({**good, "choices": {"A": "4"}}) == (False, "fewer than two options")
    assert mmlu.verify({**good, "choices": {"A": "4", "B": " "}, "target": "A"}) == (False, "an option is empty")
    contradicts = mmlu.from_fields({"question": "q?", "options": ["x", "y"], "answer": "A",
                                    "explanation": "So the answer is B."})
    assert mmlu.verify(contradicts) == (False, "the explanation concludes B but the key is A")
    assert mmlu.signature(good) == mmlu.signature({**good, "choices": {"A": "9", "B": "7", "C": "6", "D": "4"}})


def test_code_from_fields_and_verify_planted_errors(mbpp):
    good = mbpp.from_fields({"prompt": "Return the square of n.", "solution": "def square(n):\n    return n * n\n",
                             "tests": ["assert square(3) == 9", "assert square(0) == 0"], "entry_point": "square"})
    assert good["question"].startswith("def square(n):\n    \"\"\"Return the square of n.")
    assert good["test"] == "def check(candidate):\n    assert candidate(3) == 9\n    assert candidate(0) == 0\n"
    assert mbpp.verify(good) == (True, "ok")
    stub_body = mbpp.from_fields({"prompt": 'def square(n):\n    """Return n squared."""\n',
                                  "solution": "    return n * n\n",
                                  "tests": "def check(candidate):\n    assert candidate(2) == 4\n"})
    assert stub_body["entry_point"] == "square" and mbpp.verify(stub_body) == (True, "ok")
    failing = {**good, "answer": "def square(n):\n    return n + n\n"}
    ok, why = mbpp.verify(failing)
    assert not ok and why.startswith("the solution fails its tests") and "AssertionError" in why
    assert mbpp.verify({**good, "test": "def check(candidate):\n    pass\n"}) == (
        False, "no tests: the check function has no assert")
    assert mbpp.verify({**good, "test": "def check(candidate):\n    assert True\n"}) == (
        False, "the tests pass without any solution (they test nothing)")
    assert mbpp.verify({**good, "answer": "def cube(n):\n    return n ** 3\n"}) == (
        False, "the solution does not define square()")
    assert mbpp.from_fields({"prompt": "x", "solution": "", "tests": []}) is None


def test_generic_tasks_read_other_row_shapes(tmp_path):
    """Hugging Face shapes: MMLU's choices list + index, ARC's {text, label} + answerKey,
    original MBPP's description + code + test_list."""
    mc = tmp_path / "mc.jsonl"
    mc.write_text("".join(json.dumps(r) + "\n" for r in [
        {"question": "2 + 2 = ?", "choices": ["3", "4", "5"], "answer": 1, "subject": "math"},
        {"question": "The sky is", "choices": {"text": ["blue", "green"], "label": ["1", "2"]}, "answerKey": "1"},
        {"question": "Pick b", "options": {"A": "a", "B": "b"}, "answer": "B", "explanation": "It says b."},
    ]))
    task = get_task("choice_jsonl", path=str(mc))
    items = {it["question"]: it for it in _all(task)}
    assert items["2 + 2 = ?"]["target"] == "B" and items["2 + 2 = ?"]["skill"] == "math"
    assert items["The sky is"]["choices"] == {"A": "blue", "B": "green"} and items["The sky is"]["labels"] == ["1", "2"]
    assert items["Pick b"]["answer"] == "It says b.\nThe answer is B."
    code = tmp_path / "mbpp_orig.jsonl"
    code.write_text("".join(json.dumps(r) + "\n" for r in [
        {"task_id": i, "text": f"Write a function to add {i} to a number.",
         "code": f"def add_{i}(n):\r\n    return n + {i}", "test_list": [f"assert add_{i}(1) == {i + 1}"]}
        for i in range(3)]))
    ctask = get_task("code_jsonl", path=str(code), fields={"question": "text"})
    citems = _all(ctask)
    assert sorted(it["id"] for it in citems) == ["code_jsonl-0", "code_jsonl-1", "code_jsonl-2"]
    it = next(x for x in citems if x["entry_point"] == "add_2")
    assert it["question"].startswith('def add_2(n):\n    """Write a function to add 2 to a number.')
    assert it["test"] == "def check(candidate):\n    assert candidate(1) == 3\n"
    assert ctask.verify(it) == (True, "ok")
