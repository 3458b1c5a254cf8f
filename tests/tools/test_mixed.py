"""A mixed run's task: items from several tasks, each handled by its own task; the score is
the mean of the tasks' accuracies (or pooled)."""

import pytest

from lai.agents.instructor import error_prompt
from lai.tools.errors import LaiError
from lai.tools.tasks import get_task

SPEC = [{"name": "arith", "options": {"n_mining": 12, "n_validation": 6, "n_test": 6}},
        {"name": "mmlu"}]


def test_items_dispatch_to_their_own_task_and_scores_average():
    task = get_task("mixed", tasks=SPEC, limits={"validation": 4})
    val = task.load("validation")
    assert [it["task"] for it in val] == ["arith"] * 4 + ["mmlu"] * 4
    assert all(it["id"].startswith(it["task"] + ":") for it in val)
    answers = [task.extract(task.completion(it), it) for it in val]  # gold answers, read per task
    answers[0] = None  # one arith item wrong
    correct = task.grade_many(answers, val)
    assert correct == [False] + [True] * 7
    rows = [{"task": it["task"], "correct": c} for it, c in zip(val, correct)]
    assert task.by_task(rows) == {"arith": 0.75, "mmlu": 1.0}
    assert task.accuracy(rows) == pytest.approx(0.875)
    pooled = get_task("mixed", tasks=SPEC, score="pooled", limits={"validation": 4})
    assert pooled.accuracy(rows) == pytest.approx(7 / 8)
    # the instructor sees each error through its own family's prompt
    mmlu_item = val[-1]
    prompt = error_prompt(task, {"item": mmlu_item, "response": "The answer is Z."}, "le")
    assert "option" in prompt and mmlu_item["question"][:100] in prompt
    assert task.signature(val[0]) != task.signature(val[-1])


def test_bad_mixed_options_are_named():
    with pytest.raises(LaiError, match="option tasks"):
        get_task("mixed")
    with pytest.raises(LaiError, match="repeated"):
        get_task("mixed", tasks=[{"name": "arith"}, {"name": "arith"}])
    with pytest.raises(LaiError, match="Unknown task 'gsm9k'"):
        get_task("mixed", tasks=[{"name": "gsm9k"}])
