"""The instructor and data-generator agents around a scripted chat model: prompts carry what
the paper puts in them, replies are parsed, failures are counted and kept, never fatal."""

import json
from typing import Any

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from lai.agents.data_generator import DataGenerator
from lai.agents.instructor import Instructor, error_prompt
from lai.agents.llm import RoleSpec
from lai.agents.llm_client import RoleClient
from lai.agents.replies import parse_analysis
from lai.agents.offline_instructor import OfflineArithInstructor
from lai.tools.curation import curate
from lai.tools.jsonl import read_jsonl
from lai.tools.tasks.arith import ArithTask


class ScriptedLLM(BaseChatModel):
    """Replies by a rule on the prompt text; raises where the rule says so."""

    rule: Any

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        reply = self.rule(messages[-1].content)
        if isinstance(reply, Exception):
            raise reply
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])


def client(llm, model="scripted"):
    """A chat model behind the role client the agents talk to (no retries, no cache)."""
    return RoleClient("analyst", RoleSpec(model=model, concurrency=2, max_retries=0), llm)


@pytest.fixture(scope="module")
def task():
    return ArithTask(n_mining=40, n_validation=14, n_test=14)


def selected_errors(task, n=3, k=2):
    items = task.load("mining")
    errors = []
    for it in items[:n]:
        neighbours = [{"item": nb, "response": nb["answer"]} for nb in items[n : n + k]]
        errors.append({"id": it["id"], "item": it, "response": "I think it is 7.\n#### 7",
                       "extracted": "7", "neighbours": neighbours})
    return errors


def test_le_and_lec_prompts_carry_question_wrong_and_gold_answers(task):
    err = selected_errors(task)[0]
    le = error_prompt(task, err, "le")
    lec = error_prompt(task, err, "lec")
    for prompt in (le, lec):
        assert err["item"]["question"] in prompt and "#### 7" in prompt
        assert err["item"]["answer"] in prompt  # gold worked solution
        assert "borrow slip" in prompt  # the task's categories
    assert all(n["item"]["question"] in lec for n in err["neighbours"])
    assert not any(n["item"]["question"] in le for n in err["neighbours"])


def test_parse_analysis_tolerates_markdown_and_rejects_junk():
    got = parse_analysis("**Diagnosis:** forgot to borrow\n**Category:** carry or borrow slip\n- Skill: sub_borrow")
    assert got == {"diagnosis": "forgot to borrow", "category": "carry or borrow slip", "skill": "sub_borrow",
                   "details": {}}
    assert parse_analysis("I cannot help with that.") is None


def test_failed_calls_and_unparseable_replies_are_counted_and_kept(task, tmp_path):
    errors = selected_errors(task, n=3)

    def rule(prompt):
        if errors[0]["item"]["question"] in prompt:
            return "Diagnosis: wrong sum\nCategory: arithmetic slip\nSkill: add"
        if errors[1]["item"]["question"] in prompt:
            return "Sorry, no idea."
        return TimeoutError("endpoint hung")

    counts = Instructor(client(ScriptedLLM(rule=rule)), task, "le").analyse(errors, tmp_path / "a.jsonl")
    assert counts == {"analysed": 1, "analysis_failed": 1, "analysis_unparsed": 1}
    rows = read_jsonl(tmp_path / "a.jsonl")
    assert [r["ok"] for r in rows] == [True, False, False]
    assert rows[1]["reply"] == "Sorry, no idea."  # raw text kept for inspection
    assert "endpoint hung" in rows[2]["call_error"]


def test_offline_instructor_drives_both_agents_to_verified_samples(task, tmp_path):
    llm = OfflineArithInstructor(task_options={"n_mining": 40, "n_validation": 14, "n_test": 14})
    mining = task.load("mining")
    errors = [{"id": it["id"], "item": it, "response": "#### 1", "extracted": "1", "neighbours": []}
              for it in mining[:7]]  # one per skill
    Instructor(client(llm, "offline:arith"), task, "le").analyse(errors, tmp_path / "a.jsonl")
    analyses = read_jsonl(tmp_path / "a.jsonl")
    assert all(a["ok"] for a in analyses)
    counts = DataGenerator(client(llm, "offline:arith"), task).generate(
        analyses, budget=21, out_path=tmp_path / "g.jsonl", calls_path=tmp_path / "c.jsonl",
        rejects_path=tmp_path / "r.jsonl")
    assert counts["requested"] == 7 * 4  # ceil(21 / 7) + 1 per error
    samples = read_jsonl(tmp_path / "g.jsonl")
    assert counts["generated"] == len(samples) == 28
    by_error = {e["id"]: e["item"]["skill"] for e in errors}
    assert all(s["skill"] == by_error[s["source_error"]] for s in samples)
    held_out = {task.signature(it) for s in ("validation", "test") for it in task.load(s)}
    kept, rejected, c = curate(task, samples, budget=21, held_out=held_out)
    assert len(kept) == 21 and c["over budget"] == 7
    # the budget is shared round-robin: every error keeps 3
    assert sorted({sum(k["source_error"] == e for k in kept) for e in by_error}) == [3]


def test_the_generator_prompt_carries_the_whole_analysis(task, tmp_path):
    """An LLM generator sees the analyst's diagnosis, category, skill and the slip's details."""
    seen = []

    def rule(prompt):
        seen.append(prompt)
        return ('{"diagnosis": "Forgot to borrow in the tens.", "category": "borrow slip", '
                '"skill": "sub_borrow", "details": {"column": "tens", "across_zero": true}}'
                if "## What to write" in prompt and '"diagnosis"' in prompt else '{"samples": []}')

    llm = client(ScriptedLLM(rule=rule))
    errors = selected_errors(task, n=1)
    Instructor(llm, task, "le").analyse(errors, tmp_path / "analyses.jsonl")
    analyses = read_jsonl(tmp_path / "analyses.jsonl")
    assert analyses[0]["details"] == {"column": "tens", "across_zero": True}
    DataGenerator(llm, task, max_repairs=0).generate(
        analyses, 4, tmp_path / "g.jsonl", tmp_path / "c.jsonl", tmp_path / "r.jsonl", counts=[3])
    prompt = seen[-1]
    assert "Write 3 new problems" in prompt
    for line in ("Diagnosis: Forgot to borrow in the tens.", "Category: borrow slip", "Skill: sub_borrow",
                 "Details: column=tens; across_zero=yes"):
        assert line in prompt, line
    assert errors[0]["item"]["question"] in prompt


@pytest.mark.parametrize("max_repairs", [0, 1, 2])
def test_samples_that_could_not_be_read_are_asked_for_again(task, tmp_path, max_repairs):
    """Two of three samples parse, one does not: the generator is asked for the missing one
    (within `max_repairs`), and the repair prompt shows it and why it could not be read."""
    def sample(a, b):
        return {"question": f"What is {a} + {b}?", "solution": f"{a} + {b} = {a + b}\n#### {a + b}",
                "answer": str(a + b)}

    broken = {"question": "What is 5 + 6?", "solution": "5 + 6 = 11"}  # no `answer`
    seen = []

    def rule(prompt):
        seen.append(prompt)
        if "could not be read" in prompt:
            return json.dumps({"samples": [sample(5, 6)]})
        return json.dumps({"samples": [sample(1, 2), broken, sample(3, 4)]})

    analysis = {"error_id": "e1", "item": task.load("mining")[0], "response": "#### 7",
                "diagnosis": "slip", "category": "arithmetic slip", "skill": "add"}
    counts = DataGenerator(client(ScriptedLLM(rule=rule)), task, max_repairs=max_repairs).generate(
        [analysis], 3, tmp_path / "g.jsonl", tmp_path / "c.jsonl", tmp_path / "r.jsonl", counts=[3])
    kept = read_jsonl(tmp_path / "g.jsonl")
    calls = read_jsonl(tmp_path / "c.jsonl")
    if max_repairs == 0:
        assert len(calls) == 1 and sorted(s["target"] for s in kept) == ["3", "7"]
        return
    assert len(calls) == 2  # once is enough: all three are in hand after the repair
    assert sorted(s["target"] for s in kept) == ["11", "3", "7"]
    assert counts["generated"] == 3 and counts["repaired"] == 1 and counts["generation unparsed"] == 1
    repair = seen[-1]
    assert "sample does not match the schema: answer" in repair and "What is 5 + 6?" in repair
    assert "What is 1 + 2?" not in repair  # only the missing sample is asked for
