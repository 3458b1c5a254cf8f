"""Fuzzing the answer extractors and each task's free-text parser: any text gives an answer or
None, and items plus rejects; nothing raises."""

import pytest
from hypothesis import example, given

from lai.tools.tasks import get_task, task_names
from lai.tools.tasks.choice import extract_choice
from lai.tools.tasks.code import extract_code
from lai.tools.tasks.math import extract_answer
from tests.fuzz import FUZZ, REPLIES

TASKS = [name for name in task_names() if name != "mixed"]  # mixed extracts with each item's own task
LONG = "1. Question: " + "9" * 5000 + " + 1 =\nAnswer: #### " + "9" * 5000


@FUZZ
@given(REPLIES)
@example(LONG)
@example("\\boxed{" * 3000)
def test_extractors(text):
    for extract in (extract_answer, extract_choice, extract_code):
        answer = extract(text)
        assert answer is None or isinstance(answer, str)


@pytest.mark.parametrize("name", TASKS)
@FUZZ
@given(text=REPLIES)
@example(text=LONG)
def test_task_extract_and_parse(name, text):
    task = get_task(name)
    answer = task.extract(text)
    assert answer is None or isinstance(answer, str)
    items, rejects = task.parse_with_rejects(text)
    assert all(isinstance(it, dict) and isinstance(task.signature(it), str) for it in items)
    assert all(r["reason"] for r in rejects)
    assert task.parse(text) == items
