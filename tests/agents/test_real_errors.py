"""The instructor stage's inputs built from real target errors: Mistral-7B's wrong MMLU and
MBPP answers from the paper's runs, each with its k nearest right answers (MiniLM + faiss).
The LE and LEC prompts must carry the question, the wrong answer, the gold answer and, for
LEC, the k right neighbours; every family's generator and mimic prompts must fill."""

import json
from pathlib import Path

import pytest

from lai.agents.data_generator import generation_prompt, judge_prompt
from lai.agents.instructor import error_prompt
from lai.tools.retrieval import nearest
from lai.tools.tasks import get_task

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mistral7b_errors"
pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"{DATA} not present")


def rows(family: str, kind: str, n: int | None = None) -> list[dict]:
    with (DATA / family / f"train_{kind}.jsonl").open() as f:
        out = [json.loads(line) for line in f]
    return out[:n] if n else out


def selected(task, wrong_rows, right_rows, k=2):
    """What the select node writes: each error with its k nearest right answers."""
    wrong = [(task.convert(r, f"w{i}"), r["response"]) for i, r in enumerate(wrong_rows)]
    right = [(task.convert(r, f"r{i}"), r["response"]) for i, r in enumerate(right_rows)]
    idx, scores = nearest([w["question"] for w, _ in wrong], [r["question"] for r, _ in right], k)
    return [{"id": w["id"], "item": w, "response": resp, "extracted": task.extract(resp),
             "neighbours": [{"item": right[j][0], "response": right[j][1], "similarity": float(s)}
                            for j, s in zip(ix, sc)]}
            for (w, resp), ix, sc in zip(wrong, idx, scores)]


@pytest.mark.parametrize("family,task_name", [("mmlu", "mmlu"), ("mbpp", "mbpp")])
def test_le_and_lec_requests_from_real_errors(family, task_name):
    task = get_task(task_name)
    errors = selected(task, rows(family, "wrong", 6), rows(family, "right", 300), k=2)
    for e in errors:
        le, lec = error_prompt(task, e, "le"), error_prompt(task, e, "lec")
        for prompt in (le, lec):
            assert e["item"]["question"].strip()[:200] in prompt  # the question
            assert e["response"].strip()[:200] in prompt  # the target's wrong answer
            if family == "mmlu":  # the gold option, letter and text
                gold = e["item"]["target"]
                assert gold in prompt and e["item"]["choices"][gold] in prompt
            else:  # code: the tests that define right
                assert e["item"]["test"].strip().splitlines()[-1].strip() in prompt
        assert len(e["neighbours"]) == 2
        for n in e["neighbours"]:  # LEC only: k right neighbours with their right answers
            assert n["item"]["question"].strip()[:200] in lec
            assert n["item"]["question"].strip()[:200] not in le
            assert n["response"].strip()[:100] in lec
        # the analysis flows into the generator; mimic sees no wrong answer
        analysis = {**e, "error_id": e["id"], "diagnosis": "d", "category": "c", "skill": "s"}
        gen = generation_prompt(task, analysis, n=4)
        mimic = generation_prompt(task, e, n=4, mimic=True)
        assert "Write 4 new problems" in gen and "Write 4 new problems" in mimic
        assert e["response"].strip()[:200] in gen and e["response"].strip()[:200] not in mimic
        assert e["item"]["question"].strip()[:200] in mimic


def test_judge_prompt_shows_options_but_not_the_key():
    task = get_task("mmlu")
    item = task.convert(rows("mmlu", "wrong", 1)[0], "w0")
    prompt = judge_prompt(task, item)
    assert all(text in prompt for text in item["choices"].values())
    assert "answer is" in prompt and item["answer"] not in prompt
