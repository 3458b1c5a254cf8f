import pytest
from pydantic import ValidationError

from lai.graph.config import LoopConfig
from lai.graph.stopping import decide, paired_evidence


def loop(**kw):
    return LoopConfig(**{"max_iterations": 5, "patience": 2, "min_delta": 0.01, **kw})


def test_improvement_is_kept_and_resets_patience():
    d = decide(0.40, best_score=0.30, stale=1, iteration=1, loop=loop())
    assert d.keep and d.stale == 0 and d.stop_reason is None


def test_worse_round_is_rolled_back_and_counts_against_patience():
    d = decide(0.25, best_score=0.30, stale=0, iteration=1, loop=loop())
    assert not d.keep and d.stale == 1 and d.stop_reason is None
    d = decide(0.28, best_score=0.30, stale=1, iteration=2, loop=loop())
    assert not d.keep and d.stale == 2 and "patience" in d.stop_reason


def test_gain_below_min_delta_is_kept_but_is_not_progress():
    d = decide(0.305, best_score=0.30, stale=0, iteration=1, loop=loop(patience=1))
    assert d.keep  # better is better: it becomes the best adapter
    assert d.stale == 1 and "no gain" in d.stop_reason


def test_equal_score_is_not_kept():
    assert not decide(0.30, best_score=0.30, stale=0, iteration=1, loop=loop()).keep


def test_failed_round_is_rolled_back():
    d = decide(None, best_score=0.30, stale=0, iteration=1, loop=loop())
    assert not d.keep and d.stale == 1


def test_target_accuracy_stops():
    d = decide(0.91, best_score=0.5, stale=0, iteration=1, loop=loop(target_accuracy=0.9))
    assert d.keep and "target" in d.stop_reason


def test_target_counts_the_best_not_a_worse_last_round():
    d = decide(0.5, best_score=0.95, stale=0, iteration=2, loop=loop(target_accuracy=0.9))
    assert not d.keep and "target" in d.stop_reason


@pytest.mark.parametrize("iteration,stops", [(4, False), (5, True)])
def test_max_iterations(iteration, stops):
    d = decide(0.9, best_score=0.1, stale=0, iteration=iteration, loop=loop())
    assert (d.stop_reason is not None) == stops


# noise-aware keep rule (loop.keep_rule, keep_confidence) and the per-skill guard


def rounds(fixed: int, broken: int, n: int = 256, right: int = 100):
    """Per-item correctness of the best round (`right` of `n`) and of a new round that fixes
    `fixed` of its errors and breaks `broken` of its right answers; and both accuracies."""
    best = [i < right for i in range(n)]
    new = list(best)
    for i in range(right, right + fixed):
        new[i] = True
    for i in range(broken):
        new[i] = False
    return new, best, sum(new) / n, sum(best) / n


def test_default_rule_is_bootstrap_at_80_percent_without_a_guard():
    cfg = LoopConfig()
    assert cfg.keep_rule == "bootstrap" and cfg.keep_confidence == 0.8
    assert cfg.guard_margin is None and cfg.guard_min_accuracy == 0.5


@pytest.mark.parametrize("kw", [{"keep_confidence": 0.5}, {"keep_confidence": 1.0},
                                {"keep_rule": "bigger"}, {"guard_margin": -0.1},
                                {"guard_min_accuracy": 1.5}])
def test_bad_keep_settings_are_rejected(kw):
    with pytest.raises(ValidationError):
        LoopConfig(**kw)


def test_bootstrap_keeps_a_clear_gain():
    new, best, s, b = rounds(fixed=30, broken=3)
    d = decide(s, b, stale=1, iteration=1, loop=loop(), new_correct=new, best_correct=best)
    assert d.keep and d.stale == 0 and d.stop_reason is None
    assert d.p_better == 1.0
    assert d.reason == "kept: +10.5 points, P(better)=1.00"


def test_bootstrap_rolls_back_a_one_item_gain_on_256():
    new, best, s, b = rounds(fixed=1, broken=0)
    d = decide(s, b, stale=0, iteration=1, loop=loop(), new_correct=new, best_correct=best)
    assert s > b and not d.keep and d.stale == 1 and d.stop_reason is None
    assert abs(d.p_better - (1 - (255 / 256) ** 256)) < 0.02  # 0.633: the item drawn at least once
    assert d.reason == f"rolled back: +0.4 points, P(better)={d.p_better:.2f} < 0.80"
    # the same round under the old rule, and under a lower confidence, is kept
    g = decide(s, b, 0, 1, loop(keep_rule="greater"), new_correct=new, best_correct=best)
    assert g.keep and g.p_better == d.p_better
    assert g.reason == f"kept: +0.4 points, P(better)={d.p_better:.2f}"
    assert decide(s, b, 0, 1, loop(keep_confidence=0.6), new_correct=new, best_correct=best).keep


def test_bootstrap_rolls_back_a_net_gain_made_of_churn():
    new, best, s, b = rounds(fixed=20, broken=19)  # +1 item, 39 items changed
    d = decide(s, b, 0, 1, loop(), new_correct=new, best_correct=best)
    assert not d.keep and 0.4 < d.p_better < 0.7


def test_bootstrap_rolls_back_a_worse_round():
    new, best, s, b = rounds(fixed=0, broken=5)
    d = decide(s, b, 0, 1, loop(), new_correct=new, best_correct=best)
    assert not d.keep and d.p_better == 0.0
    assert d.reason == "rolled back: -2.0 points, not above the best, P(better)=0.00"


def test_a_rolled_back_round_does_not_reach_the_target():
    new, best, s, b = rounds(fixed=1, broken=0, right=128)  # 0.5 -> 0.5039
    d = decide(s, b, 0, 1, loop(target_accuracy=0.502), new_correct=new, best_correct=best)
    assert not d.keep and d.stop_reason is None
    assert decide(s, b, 0, 1, loop(target_accuracy=0.502, keep_rule="greater")).stop_reason == \
        "reached target accuracy 0.502"


def test_a_kept_gain_below_min_delta_is_still_stale():
    new, best, s, b = rounds(fixed=4, broken=0)  # +1.6 points, P(better) ~ 1 - e^-4 = 0.98
    d = decide(s, b, 0, 1, loop(min_delta=0.05, patience=1), new_correct=new, best_correct=best)
    assert d.keep and d.p_better > 0.95
    assert d.stale == 1 and "no gain of 0.050" in d.stop_reason


def test_bootstrap_falls_back_to_greater_without_per_item_results():
    d = decide(0.40, best_score=0.30, stale=1, iteration=1, loop=loop())
    assert d.keep and d.stale == 0 and d.p_better is None
    assert d.reason == "kept: +10.0 points (no per-item results: rule `greater`)"
    new, best, s, b = rounds(fixed=1, broken=0)
    half = decide(s, b, 0, 1, loop(), new_correct=new)  # one list alone is not a pairing
    assert half.keep and half.p_better is None and "rule `greater`" in half.reason
    worse = decide(0.25, 0.30, 0, 1, loop())
    assert worse.reason == "rolled back: -5.0 points, not above the best (no per-item results: rule `greater`)"


def test_greater_rule_reason_and_failed_round_reason():
    assert decide(0.40, 0.30, 0, 1, loop(keep_rule="greater")).reason == "kept: +10.0 points"
    assert decide(0.30, 0.30, 0, 1, loop(keep_rule="greater")).reason == \
        "rolled back: +0.0 points, not above the best"
    d = decide(None, 0.30, 0, 1, loop(), new_correct=None, best_correct=None)
    assert not d.keep and d.stale == 1 and d.reason == "rolled back: the round failed (no validation score)"


def test_unpaired_lists_are_an_error():
    with pytest.raises(ValueError, match="got 3 and 2"):
        decide(0.5, 0.4, 0, 1, loop(), new_correct=[True, True, False], best_correct=[True, False])


BEST_GROUPS = {"add_carry": 0.90, "div": 0.30, "sub": 0.70}


def test_guard_rolls_back_a_round_that_drops_a_strong_skill():
    new, best, s, b = rounds(fixed=30, broken=3)  # overall a clear gain
    groups = {"add_carry": 0.82, "div": 0.80, "sub": 0.69}
    d = decide(s, b, 0, 1, loop(guard_margin=0.05), new_correct=new, best_correct=best,
               new_groups=groups, best_groups=BEST_GROUPS)
    assert not d.keep and d.stale == 1 and d.p_better == 1.0
    assert d.reason == ("rolled back: guard: skill add_carry fell 8.0 points (0.900 -> 0.820) "
                        "(overall +10.5 points, P(better)=1.00)")
    # without a guard, or with a wider margin, the same round is kept
    assert decide(s, b, 0, 1, loop(), new_correct=new, best_correct=best,
                  new_groups=groups, best_groups=BEST_GROUPS).keep
    assert decide(s, b, 0, 1, loop(guard_margin=0.10), new_correct=new, best_correct=best,
                  new_groups=groups, best_groups=BEST_GROUPS).keep


def test_guard_lists_every_fallen_skill_worst_first_and_works_under_greater():
    groups = {"add_carry": 0.84, "div": 0.30, "sub": 0.50}
    d = decide(0.40, 0.30, 0, 1, loop(keep_rule="greater", guard_margin=0.05),
               new_groups=groups, best_groups=BEST_GROUPS)
    assert not d.keep
    assert d.reason.startswith("rolled back: guard: skill sub fell 20.0 points (0.700 -> 0.500), "
                               "skill add_carry fell 6.0 points")


def test_guard_ignores_weak_skills_a_drop_at_the_margin_and_missing_skills():
    new, best, s, b = rounds(fixed=30, broken=3)
    groups = {"add_carry": 0.85, "div": 0.0}  # strong: -5.0 exactly; weak: -30; sub: missing
    d = decide(s, b, 0, 1, loop(guard_margin=0.05), new_correct=new, best_correct=best,
               new_groups=groups, best_groups=BEST_GROUPS)
    assert d.keep and d.reason == "kept: +10.5 points, P(better)=1.00"
    # a higher bar for "strong" lets a strong-skill drop pass; a lower one guards div too
    sub_drop = {"add_carry": 0.90, "div": 0.20, "sub": 0.60}
    kw = dict(new_correct=new, best_correct=best, new_groups=sub_drop, best_groups=BEST_GROUPS)
    assert not decide(s, b, 0, 1, loop(guard_margin=0.05), **kw).keep
    assert decide(s, b, 0, 1, loop(guard_margin=0.05, guard_min_accuracy=0.75), **kw).keep
    low = decide(s, b, 0, 1, loop(guard_margin=0.05, guard_min_accuracy=0.25), **kw)
    assert "skill div fell 10.0 points" in low.reason and "skill sub fell 10.0 points" in low.reason


def test_paired_evidence_pairs_rows_by_id_and_groups_by_skill():
    best_rows = [{"id": "a", "correct": True, "skill": "add"}, {"id": "b", "correct": False, "skill": "add"},
                 {"id": "c", "correct": True, "skill": None}]
    new_rows = [{"id": "c", "correct": False, "skill": None}, {"id": "a", "correct": True, "skill": "add"},
                {"id": "b", "correct": True, "skill": "add"}]
    ev = paired_evidence(new_rows, best_rows)
    assert ev == {"new_correct": [False, True, True], "best_correct": [True, True, False],
                  "new_groups": {"-": 0.0, "add": 1.0}, "best_groups": {"-": 1.0, "add": 0.5}}
    d = decide(2 / 3, 2 / 3, 0, 1, loop(), **ev)
    assert not d.keep and d.p_better is not None


def test_paired_evidence_rejects_different_items_and_repeated_ids():
    rows = [{"id": 1, "correct": True}, {"id": 2, "correct": False}]
    with pytest.raises(ValueError, match=r"2 new vs 1 best; only in new: \['2'\]"):
        paired_evidence(rows, rows[:1])
    with pytest.raises(ValueError, match="id 1 appears twice"):
        paired_evidence(rows + rows[:1], rows)
