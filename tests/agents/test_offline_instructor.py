import re
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

import lai.prompts
from lai.agents.offline_instructor import MODEL_NAME, OfflineArithInstructor
from lai.agents.replies import parse_details
from lai.tools.tasks.arith import phrasing_of
from lai.tools.tasks.arith import ARITH_CATEGORIES, ArithTask, count_borrows, operands_from_solution, solve
from lai.tools.tasks.arith_columns import borrow_columns, borrows_across_zero, carry_columns

PROMPTS = Path(lai.prompts.__file__).parent
CATEGORIES = ", ".join(ARITH_CATEGORIES)


@pytest.fixture(scope="module")
def task():
    return ArithTask()


@pytest.fixture(scope="module")
def llm():
    return OfflineArithInstructor()


def item(task, skill, pred=lambda x: True):
    return next(it for it in task.load("mining") if it["skill"] == skill and pred(it["operands"]))


def le_prompt(task, it, response):
    return (PROMPTS / "analyst_le_math.txt").read_text().format(error=task.show(it, response), categories=CATEGORIES)


def lec_prompt(task, it, response, neighbours):
    blocks = "\n---\n".join(task.show(n, n["answer"]) for n in neighbours)
    return (PROMPTS / "analyst_lec_math.txt").read_text().format(
        error=task.show(it, response), neighbours=blocks, categories=CATEGORIES)


def reply_lines(text):
    lines = text.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Diagnosis", "Category", "Skill", "Details"], text
    return {k: v.strip() for k, v in (line.split(":", 1) for line in lines)}


def planted(task):
    """(item, wrong response, expected category, words the diagnosis must contain, details)."""
    sub = item(task, "sub_borrow", lambda x: x[0] >= 100 and 2 in borrow_columns(x[0] * 10, x[1] * 10))
    a, b = sub["operands"]
    add = item(task, "add_carry", lambda x: 0 in carry_columns(*x))
    p, q = add["operands"]
    two = item(task, "two_step")
    x = two["operands"]
    return [
        (sub, f"{a} - {b} = {a - b + 100}\n#### {a - b + 100}", "borrow slip", ["borrow", "tens"],
         {"column": "tens", "column_index": 1}),
        (sub, f"{a} + {b} = {a + b}\n#### {a + b}", "wrong operation", ["subtract", "not to add"],
         {"expected": "-", "used": "+"}),
        # the working shows the wrong operation even though its result is wrong too
        (add, f"{p} - {q} = 12\n#### 12", "wrong operation", ["not to subtract"], {"expected": "+", "used": "-"}),
        (add, f"{p} + {q} = {p + q - 10}\n#### {p + q - 10}", "carry slip", ["carry", "ones"],
         {"column": "ones", "column_index": 0}),
        (add, "Let me think about the boxes and count them one by one", "no final answer", ["####"], {}),
        (two, f"{x[0]} + {x[1]} = {x[0] + x[1]}\n#### {x[0] + x[1]}", "stopped early", ["stopped", str(x[2])],
         {"stopped_after_step": 1}),
    ]


def details_of(got):
    return parse_details(got["Details"])


def test_le_diagnoses_planted_errors(task, llm):
    for it, response, category, words, details in planted(task):
        got = reply_lines(llm.invoke(le_prompt(task, it, response)).content)
        assert got["Category"] == category, got
        assert got["Skill"] == it["skill"]
        assert all(w in got["Diagnosis"] for w in words), got
        assert details.items() <= details_of(got).items(), got
        assert got["Category"] in ARITH_CATEGORIES


def test_borrow_across_zero_and_misread_number(task, llm):
    it = {**item(task, "sub_borrow"), "operands": [503, 178]}
    it["answer"], it["target"] = solve("sub_borrow", [503, 178])
    got = reply_lines(llm.invoke(le_prompt(task, it, "503 - 178 = 335\n#### 335")).content)
    assert got["Category"] == "borrow slip" and details_of(got)["across_zero"] is True, got
    got = reply_lines(llm.invoke(le_prompt(task, it, "503 - 187 = 316\n#### 316")).content)
    assert got["Category"] == "misread number" and details_of(got) == {"number": 178, "read_as": 187,
                                                                      "phrasing": it["phrasing"]}, got


def test_a_false_fact_in_the_working_is_named(task, llm):
    add = {**item(task, "add_carry"), "operands": [347, 285]}
    add["answer"], add["target"] = solve("add_carry", [347, 285])
    working = "ones: 7 + 5 = 13, carry 1\ntens: 4 + 8 + 1 = 13, carry 1\nhundreds: 3 + 2 + 1 = 6\n#### 633"
    got = reply_lines(llm.invoke(le_prompt(task, add, working)).content)
    assert got["Category"] == "arithmetic slip" and details_of(got)["fact"] == "7 + 5 = 13", got


def test_lec_diagnoses_and_contrasts(task, llm):
    neighbours = [it for it in task.load("mining") if it["skill"] == "add_carry"][:3]
    for it, response, category, words, _ in planted(task):
        got = reply_lines(llm.invoke(lec_prompt(task, it, response, neighbours)).content)
        assert got["Category"] == category and all(w in got["Diagnosis"] for w in words), got
        assert "contrast" in details_of(got)
        if it["skill"] != "add_carry":
            assert "practise other skills (add_carry)" in got["Diagnosis"]


def test_lec_names_extra_borrow_against_same_skill(task, llm):
    hard = item(task, "sub_borrow", lambda x: count_borrows(*x) == 2)
    easy = [it for it in task.load("mining") if it["skill"] == "sub_borrow" and count_borrows(*it["operands"]) == 1][:2]
    a, b = hard["operands"]
    got = reply_lines(llm.invoke(lec_prompt(task, hard, f"#### {a - b + 10}", easy)).content)
    assert "2 borrows while they needed at most 1" in got["Diagnosis"]
    assert details_of(got)["contrast"] == "regrouping"


def test_unit_conversion(task, llm):
    money = item(task, "money")
    target = int(money["target"])
    got = reply_lines(llm.invoke(le_prompt(task, money, f"#### {target / 100}")).content)
    assert got["Category"] == "unit conversion"
    time = item(task, "time")
    h, m = time["operands"]
    got = reply_lines(llm.invoke(le_prompt(task, time, f"#### {h + m}")).content)
    assert got["Category"] == "unit conversion"


def generator_prompt(task, it, response, analysis, n):
    return (PROMPTS / "generator_math.txt").read_text().format(
        error=task.show(it, response), analysis=analysis, n=n)


def test_generator_reply_parses_into_verified_items(task, llm):
    sub = item(task, "sub_borrow", lambda x: x[0] >= 100 and x[1] < 100)
    a, b = sub["operands"]
    analysis = llm.invoke(le_prompt(task, sub, f"#### {a - b + 100}")).content
    prompt = generator_prompt(task, sub, f"#### {a - b + 100}", analysis, 6)
    reply = llm.invoke(prompt).content
    assert reply == llm.invoke(prompt).content  # deterministic
    assert reply.startswith("1. Question: ")
    items, rejects = task.parse_with_rejects(reply)
    assert len(items) == 6 and rejects == []
    for it in items:
        assert task.verify(it) == (True, "ok")
        x = operands_from_solution("sub_borrow", it["answer"])
        assert x and count_borrows(*x) > 0 and len(str(x[0])) == 3 and len(str(x[1])) == 2
        assert task.signature(it) != task.signature(sub)
    test_sigs = {task.signature(t) for t in task.load("test")}
    assert not {f"sub_borrow:{','.join(map(str, operands_from_solution('sub_borrow', it['answer'])))}"
                for it in items} & test_sigs


def test_generator_falls_back_to_analysis_skill(task, llm):
    it = {**item(task, "mul"), "skill": None}
    reply = llm.invoke(generator_prompt(task, it, "#### 3", "Diagnosis: x\nCategory: arithmetic slip\nSkill: mul", 3)).content
    items = task.parse(reply)
    assert len(items) == 3 and all(re.search(r"\n\d+ \* \d+ = \d+\n#### \d+$", i["answer"]) for i in items)


def test_messages_and_identity(task, llm):
    prompt = le_prompt(task, item(task, "div"), "#### 1")
    result = llm.invoke([SystemMessage("You are a teacher."), HumanMessage(prompt)])
    assert result.content.startswith("Diagnosis: ")
    assert result.response_metadata["model_name"] == MODEL_NAME
    assert llm._llm_type == "offline-arith"
    assert llm._identifying_params["model_name"] == "offline-rule-based-instructor (arith only)"


@pytest.mark.parametrize("prompt", ["Hello there", "Diagnosis: ## Error\nnothing useful",
                                    "Write 5 new problems about anything"])
def test_unreadable_prompt_gets_a_clear_reply(llm, prompt):
    text = llm.invoke(prompt).content
    assert text.startswith("Diagnosis: offline rule-based instructor could not read this prompt")


def generated(task, llm, it, response, n, neighbours=None):
    """The operands of the samples the offline generator writes for one error, LE or LEC."""
    prompt = lec_prompt(task, it, response, neighbours) if neighbours else le_prompt(task, it, response)
    analysis = llm.invoke(prompt).content
    items = task.parse(llm.invoke(generator_prompt(task, it, response, analysis, n)).content)
    assert len(items) == n
    return items


def test_every_sample_for_a_tens_borrow_slip_borrows_in_the_tens(task, llm):
    sub = item(task, "sub_borrow", lambda x: x[0] >= 100 and 1 in borrow_columns(*x) and x[0] // 10 % 10 != 0)
    a, b = sub["operands"]
    wrong = a - b + 100  # the borrow from the tens was not taken off the hundreds
    items = generated(task, llm, sub, f"{a} - {b} = {wrong}\n#### {wrong}", 12)
    operands = [operands_from_solution("sub_borrow", it["answer"]) for it in items]
    assert all(x and 1 in borrow_columns(*x) for x in operands), operands
    assert 0 < sum(borrows_across_zero(*x) for x in operands) < len(operands)  # some across a zero
    assert all(task.verify(it) == (True, "ok") for it in items)


def test_each_category_gets_samples_that_exercise_it(task, llm):
    two = item(task, "two_step")
    x = two["operands"]
    items = generated(task, llm, two, f"{x[0]} + {x[1]} = {x[0] + x[1]}\n#### {x[0] + x[1]}", 6)
    assert all(len(operands_from_solution("two_step", it["answer"]) or []) == 3 for it in items)
    time = item(task, "time")
    h, m = time["operands"]
    items = generated(task, llm, time, f"#### {h + m}", 6)
    assert all(it["answer"].startswith(tuple(f"{k} * 60 = " for k in range(1, 13))) for it in items)
    add = item(task, "add_carry", lambda v: 0 in carry_columns(*v))
    p, q = add["operands"]
    items = generated(task, llm, add, f"{p} - {q} = 1\n#### 1", 6)  # wrong operation: same phrasing
    phrasings = [phrasing_of("add_carry", it["question"]) for it in items]
    assert phrasings.count(add["phrasing"]) >= 4, phrasings


def test_le_and_lec_give_different_data_for_the_same_error(task, llm):
    sub = item(task, "sub_borrow", lambda x: x[0] >= 100 and 1 in borrow_columns(*x) and x[0] // 10 % 10 != 0)
    a, b = sub["operands"]
    easy = [it for it in task.load("mining") if it["skill"] == "sub_borrow"
            and borrow_columns(*it["operands"]) == [0]][:2]
    response = f"{a} - {b} = {a - b + 100}\n#### {a - b + 100}"
    le = generated(task, llm, sub, response, 8)
    lec = generated(task, llm, sub, response, 8, neighbours=easy)
    assert {it["question"] for it in le}.isdisjoint({it["question"] for it in lec})
    lec_x = [operands_from_solution("sub_borrow", it["answer"]) for it in lec]
    # LEC writes minimal pairs: half borrow in the tens like the error, half do not; same phrasing and size
    assert sorted(1 in borrow_columns(*x) for x in lec_x) == [False] * 4 + [True] * 4
    assert {phrasing_of("sub_borrow", it["question"]) for it in lec} == {sub["phrasing"]}
    assert {tuple(len(str(v)) for v in x) for x in lec_x} == {tuple(len(str(v)) for v in sub["operands"])}
