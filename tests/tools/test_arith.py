from collections import Counter

import pytest

from lai.tools.errors import LaiError
from lai.tools.tasks import Task, get_task
from lai.tools.tasks.arith import HELD_OUT, SKILLS, SPLITS, ArithTask, operands_from_solution, solve


@pytest.fixture(scope="module")
def task():
    return get_task("arith")


@pytest.fixture(scope="module")
def splits(task):
    return {s: task.load(s) for s in SPLITS}


def test_registered_and_protocol(task):
    assert isinstance(task, ArithTask) and isinstance(task, Task)
    assert (task.name, task.version, task.family) == ("arith", 1, "math")


def test_split_sizes_ids_and_limit(task, splits):
    assert {s: len(v) for s, v in splits.items()} == {"mining": 192, "validation": 256, "test": 256}
    assert splits["test"][5]["id"] == "arith-test-5"
    assert task.load("validation", limit=14) == splits["validation"][:14]
    small = get_task("arith", n_mining=10, n_validation=5, n_test=7)
    assert [len(small.load(s)) for s in SPLITS] == [10, 5, 7]


def test_unknown_split_names_valid_ones(task):
    with pytest.raises(LaiError, match="mining, validation, test"):
        task.load("train")


def test_bad_size_is_an_error():
    with pytest.raises(LaiError, match="n_test"):
        ArithTask(n_test=-1)


def test_splits_are_deterministic_and_seeded(splits):
    again = ArithTask()
    assert {s: again.load(s) for s in SPLITS} == splits
    assert ArithTask(seed=1).load("test") != splits["test"]


def test_splits_disjoint_by_content(task, splits):
    sigs = {s: [task.signature(it) for it in items] for s, items in splits.items()}
    for s, v in sigs.items():
        assert len(set(v)) == len(v), f"duplicate signature inside {s}"
    assert not set(sigs["mining"]) & set(sigs["validation"])
    assert not set(sigs["mining"]) & set(sigs["test"])
    assert not set(sigs["validation"]) & set(sigs["test"])


def test_skills_balanced(splits):
    for items in splits.values():
        counts = Counter(it["skill"] for it in items)
        assert set(counts) == set(SKILLS)
        assert max(counts.values()) - min(counts.values()) <= 1
    assert Counter(it["skill"] for it in splits["mining"][:14]) == {s: 2 for s in SKILLS}


def test_held_out_phrasings_only_in_test(task, splits):
    held = lambda it: it["phrasing"] == HELD_OUT[it["skill"]]  # noqa: E731
    assert not any(held(it) for s in ("mining", "validation") for it in splits[s])
    n_held = sum(held(it) for it in splits["test"])
    assert 0.3 * 256 < n_held < 0.7 * 256  # test mixes held-out and ordinary phrasings
    assert not any(held(it) for it in task.sample(70, seed=3))


def test_every_gold_answer_grades_and_verifies(task, splits):
    for items in splits.values():
        for it in items:
            assert task.grade(task.extract(task.completion(it)), it), it
            assert task.verify(it) == (True, "ok"), it
            assert operands_from_solution(it["skill"], it["answer"]) == it["operands"]


def test_prompt_and_grading(task, splits):
    it = splits["test"][0]
    messages = task.prompt(it)
    assert messages[0]["role"] == "user" and it["question"] in messages[0]["content"]
    assert "####" in messages[0]["content"]
    assert task.grade(task.extract(f"Working...\n#### {int(it['target']):,}"), it)
    assert not task.grade(task.extract("I am not sure."), it)
    assert not task.grade(None, it)


def test_solve_examples():
    assert solve("two_step", [25, 17, 30]) == ("25 + 17 = 42\n42 - 30 = 12\n#### 12", "12")
    assert solve("money", [45, 6]) == (
        "0.45 * 100 = 45\n40 * 6 = 240\n5 * 6 = 30\n240 + 30 = 270\n45 * 6 = 270\n#### 270", "270")
    assert solve("sub_borrow", [503, 178]) == (
        "ones: 10 + 3 - 8 = 5, borrow 1\ntens: 10 + 0 - 1 - 7 = 2, borrow 1\nhundreds: 5 - 1 - 1 = 3\n"
        "503 - 178 = 325\n#### 325", "325")
    assert solve("add_carry", [95, 87]) == (
        "ones: 5 + 7 = 12, carry 1\ntens: 9 + 8 + 1 = 18, carry 1\n95 + 87 = 182\n#### 182", "182")
    assert solve("div", [984, 4])[0].splitlines() == [
        "4 * 200 = 800", "984 - 800 = 184", "4 * 40 = 160", "184 - 160 = 24", "24 / 4 = 6",
        "200 + 40 + 6 = 246", "984 / 4 = 246", "#### 246"]
    assert solve("time", [2, 15]) == ("2 * 60 = 120\n120 + 15 = 135\n#### 135", "135")
    with pytest.raises(LaiError, match="not an exact division"):
        solve("div", [10, 3])
    with pytest.raises(LaiError, match="unknown skill"):
        solve("calculus", [1, 2])


def test_planted_wrong_solutions_fail_verify(task, splits):
    it = next(i for i in splits["mining"] if i["skill"] == "mul")
    a, b = it["operands"]
    wrong = {**it, "answer": f"{a} * {b} = {a * b + 2}\n#### {a * b + 2}", "target": str(a * b + 2)}
    ok, reason = task.verify(wrong)
    assert not ok and f"equation '{a} * {b} = {a * b + 2}' is wrong" in reason
    ok, reason = task.verify({**it, "target": str(a * b + 1)})
    assert not ok and "does not match" in reason
    # Consistent arithmetic but the wrong problem: only the solver catches it.
    swapped = {**it, "operands": [a + 1, b]}
    ok, reason = task.verify(swapped)
    assert not ok and "gives" in reason
    assert task.verify({**it, "question": " "}) == (False, "empty question")


def test_show_sections(task, splits):
    it = splits["test"][1]
    text = task.show(it, "I think\n#### 7")
    headers = [line for line in text.splitlines() if line.startswith("### ")]
    assert headers == ["### Question", "### Skill tag", "### Student's answer", "### Student's final answer",
                       "### Correct solution", "### Correct final answer"]
    assert "### Student's final answer\n7" in text and f"### Skill tag\n{it['skill']}" in text
    assert "none" in task.show(it, "no idea")
    assert "Student" not in task.show(it)


def test_parse_and_signature(task):
    reply = ("1. Question: Ann has 27 beads and finds 15 more. How many beads does she have?\n"
             "Answer: 27 + 15 = 42\n#### 42\n\n2. Question: broken\n\n"
             "3. Question: A tray holds 6 rows of 8 cookies. How many cookies?\n"
             "Skill tag: mul\nAnswer: 6 * 8 = 48\n#### 48\n")
    items, rejects = task.parse_with_rejects(reply)
    assert task.parse(reply) == items and len(rejects) == 1
    assert [it["skill"] for it in items] == [None, "mul"]
    assert all(it["id"].startswith("arith-gen-") for it in items)
    assert all(task.verify(it) == (True, "ok") for it in items)
    assert task.signature(items[0]) == "ann has 27 beads and finds 15 more how many beads does she have"
    assert task.signature({"skill": "mul", "operands": [12, 4], "question": "x"}) == "mul:12,4"


def test_sample(task, splits):
    eval_sigs = {task.signature(it) for s in ("validation", "test") for it in splits[s]}
    like = next(i for i in splits["mining"] if i["skill"] == "sub_borrow" and i["operands"][1] < 100
                and i["operands"][0] >= 100)
    items = task.sample(20, seed=7, skill="sub_borrow", like=like)
    assert items == task.sample(20, seed=7, skill="sub_borrow", like=like)
    assert items != task.sample(20, seed=8, skill="sub_borrow", like=like)
    assert {it["skill"] for it in items} == {"sub_borrow"}
    assert all((len(str(x)), len(str(y))) == (3, 2) for x, y in (it["operands"] for it in items))
    sigs = [task.signature(it) for it in items]
    assert len(set(sigs)) == 20 and not set(sigs) & eval_sigs and task.signature(like) not in sigs
    assert all(task.verify(it) == (True, "ok") for it in items)
    control = task.sample(70, seed=1)
    assert len({it["skill"] for it in control}) >= 5
    with pytest.raises(LaiError, match="unknown skill"):
        task.sample(1, seed=0, skill="algebra")
