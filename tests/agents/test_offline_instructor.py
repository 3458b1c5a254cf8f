import re
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

import lai.prompts
from lai.agents.offline_instructor import MODEL_NAME, OfflineArithInstructor
from lai.tools.tasks.arith import ARITH_CATEGORIES, ArithTask, count_borrows, operands_from_solution

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
    assert [line.split(":")[0] for line in lines] == ["Diagnosis", "Category", "Skill"], text
    return {k: v.strip() for k, v in (line.split(":", 1) for line in lines)}


def planted(task):
    """(item, wrong response, expected category, words the diagnosis must contain)."""
    sub = item(task, "sub_borrow", lambda x: x[0] >= 100)
    a, b = sub["operands"]
    add = item(task, "add_carry")
    two = item(task, "two_step")
    x = two["operands"]
    return [
        (sub, f"{a} - {b} = {a - b + 100}\n#### {a - b + 100}", "carry or borrow slip", ["borrow", "hundreds"]),
        (sub, f"{a} + {b} = {a + b}\n#### {a + b}", "wrong operation", ["subtract", "not to add"]),
        (add, "Let me think about the boxes and count them one by one", "no final answer", ["####"]),
        (two, f"{x[0]} + {x[1]} = {x[0] + x[1]}\n#### {x[0] + x[1]}", "stopped early", ["stopped", str(x[2])]),
    ]


def test_le_diagnoses_planted_errors(task, llm):
    for it, response, category, words in planted(task):
        got = reply_lines(llm.invoke(le_prompt(task, it, response)).content)
        assert got["Category"] == category, got
        assert got["Skill"] == it["skill"]
        assert all(w in got["Diagnosis"] for w in words), got
        assert got["Category"] in ARITH_CATEGORIES


def test_lec_diagnoses_and_contrasts(task, llm):
    neighbours = [it for it in task.load("mining") if it["skill"] == "add_carry"][:3]
    for it, response, category, words in planted(task):
        got = reply_lines(llm.invoke(lec_prompt(task, it, response, neighbours)).content)
        assert got["Category"] == category and all(w in got["Diagnosis"] for w in words), got
        if it["skill"] != "add_carry":
            assert "practise other skills (add_carry)" in got["Diagnosis"]


def test_lec_names_extra_borrow_against_same_skill(task, llm):
    hard = item(task, "sub_borrow", lambda x: count_borrows(*x) == 2)
    easy = [it for it in task.load("mining") if it["skill"] == "sub_borrow" and count_borrows(*it["operands"]) == 1][:2]
    a, b = hard["operands"]
    got = reply_lines(llm.invoke(lec_prompt(task, hard, f"#### {a - b + 10}", easy)).content)
    assert "2 borrows while they needed at most 1" in got["Diagnosis"]


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
    assert len(items) == 3 and all(re.fullmatch(r"\d+ \* \d+ = \d+\n#### \d+", i["answer"]) for i in items)


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
