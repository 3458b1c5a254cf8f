import pytest

from lai.agents.allocation import allocate, allocation_record, learnability, samples_per_error, skill_accuracy


def source(skill, category, i=0):
    return {"error_id": f"e{i}", "item": {"skill": skill}, "category": category}


def test_proportional_is_the_papers_count_rule():
    sources = [source("mul", "wrong computation", i) for i in range(7)]
    assert allocate(sources, 64, "proportional") == [samples_per_error(64, 7)] * 7 == [11] * 7


def test_learnable_favours_part_learnt_skills_and_near_misses():
    accuracy = {"mul": 0.5, "div": 0.0, "time": 0.95}
    sources = [source("mul", "wrong computation", 0), source("div", "wrong computation", 1),
               source("time", "wrong computation", 2), source("mul", "borrow slip", 3)]
    counts = allocate(sources, 64, "learnable", accuracy)
    assert sum(counts) == samples_per_error(64, 4) * 4 == 68  # same total as the paper's rule
    # weights: mul 1.0, div 0.25 (floor), time 4*.95*.05=0.19 -> 0.25, mul near miss 1.5
    assert counts == [23, 5, 5, 35]  # 68 * w / 3.0, floored, leftovers to the heaviest
    assert learnability(0.5) == 1.0 and learnability(0.0) == 0.25 and learnability(None) == 1.0


def test_allocation_record_and_bad_policy():
    sources = [source("mul", "carry slip", 0), source("div", "stopped early", 1)]
    record = allocation_record(sources, [3, 5], "learnable", {"mul": 0.2})
    assert record["per_skill"] == {"mul": 3, "div": 5} and record["requested"] == 8
    assert record["per_error"][1] == {"error_id": "e1", "skill": "div", "category": "stopped early", "n": 5}
    with pytest.raises(ValueError, match="proportional"):
        allocate(sources, 10, "greedy")


def test_skill_accuracy():
    rows = [{"skill": "mul", "correct": True}, {"skill": "mul", "correct": False}, {"skill": "div", "correct": False}]
    assert skill_accuracy(rows) == {"mul": 0.5, "div": 0.0}
