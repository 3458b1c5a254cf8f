"""Curation on planted bad samples: wrong answers, duplicates, leaked evaluation items."""

from lai.tools.curation import curate
from lai.tools.tasks.arith import ArithTask


def test_planted_bad_samples_are_rejected_with_reasons():
    task = ArithTask(n_mining=20, n_validation=14, n_test=14)
    good = task.sample(4, seed=1, skill="add_carry")
    for i, s in enumerate(good):
        s["id"], s["source_error"] = f"g{i}", "e1"
    wrong = {**good[0], "id": "wrong", "answer": good[0]["answer"].replace(
        f"#### {good[0]['target']}", f"#### {int(good[0]['target']) + 1}")}
    copy = {**good[1], "id": "copy"}
    test_item = task.load("test")[0]
    # a leaked test problem, re-worded by an "LLM" as text without operands
    leaked = {"id": "leak", "question": "Reworded: " + test_item["question"],
              "answer": test_item["answer"], "target": test_item["target"],
              "skill": test_item["skill"], "source_error": "e2"}
    earlier = good[2]
    held_out = {task.signature(it) for it in task.load("validation") + task.load("test")}
    kept, rejected, counts = curate(task, good + [wrong, copy, leaked], budget=10,
                                    seen={task.signature(earlier)}, held_out=held_out)
    reasons = {r["id"]: r["reject_reason"] for r in rejected}
    assert reasons["wrong"].startswith("failed verification")
    assert reasons["copy"] == "duplicate within this iteration"
    assert reasons["leak"].startswith("contaminated")
    assert reasons["g2"] == "duplicate of an earlier iteration"
    assert {k["id"] for k in kept} == {"g0", "g1", "g3"}
    assert counts["kept"] == 3 and counts["rejected"] == 4
    assert counts["failed verification"] == 1 and counts["contaminated"] == 1
