import pytest

from lai.graph.config import LoopConfig
from lai.graph.stopping import decide


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
