"""The controls' samples: uniform random, and the selected errors' skill mix (skill-matched)."""

from collections import Counter
from types import SimpleNamespace

from lai.graph.nodes import control_samples
from lai.tools.tasks.arith import ArithTask


def test_skill_matched_follows_the_errors_skill_mix_and_random_does_not():
    task = ArithTask(n_mining=70, n_validation=14, n_test=14)
    ctx = SimpleNamespace(task=task)
    mining = task.load("mining")
    selected = [{"item": it} for it in mining if it["skill"] in ("sub_borrow", "div")][:20]
    selected += [{"item": it} for it in mining if it["skill"] == "mul"][:5]
    matched = control_samples(ctx, "skill_matched", selected, 80, seed=3)
    counts = Counter(s["skill"] for s in matched)
    assert counts == {"sub_borrow": 40, "div": 40, "mul": 20}  # 100 = 80 + 80 // 4, split 10:10:5
    assert {s["source_error"] for s in matched} == {"skill_matched"}
    uniform = control_samples(ctx, "random", selected, 80, seed=3)
    assert len(uniform) == 100 and len({s["skill"] for s in uniform}) == 7
    assert all(task.verify(s) == (True, "ok") for s in matched + uniform)
