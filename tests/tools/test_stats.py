import math

import numpy as np
import pytest

from lai.tools.stats import clustered_paired_bootstrap, paired_bootstrap


def test_identical_scores_have_zero_difference_and_a_zero_interval():
    a = [True, False, True, True, False] * 20
    r = paired_bootstrap(a, list(a))
    assert r.mean == 0.0 and r.ci == (0.0, 0.0) and r.ci95 == (0.0, 0.0)
    assert r.p_greater == 0.0 and r.n == 100 and r.n_groups == 1 and r.n_boot == 10_000


def test_a_constant_shift_is_recovered_exactly():
    b = [0.0, 1.0, 2.0, 5.0, -3.0] * 10
    r = paired_bootstrap([x + 1 for x in b], b, n_boot=500)
    assert r.mean == 1.0 and r.ci == (1.0, 1.0) and r.p_greater == 1.0


def test_bools_and_floats_are_the_same_scores():
    a, b = [True, True, False, True], [False, True, False, False]
    assert paired_bootstrap(a, b, seed=3) == paired_bootstrap([1.0, 1, 0, 1], [0.0, 1, 0, 0], seed=3)
    assert paired_bootstrap(a, b).mean == 0.5


def test_a_clear_gain_excludes_zero():
    # 256 items: A fixes 30 of B's errors and breaks 3 of its right answers (+27 items)
    b = [True] * 100 + [False] * 156
    a = list(b)
    for i in range(100, 130):
        a[i] = True
    for i in range(3):
        a[i] = False
    r = paired_bootstrap(a, b)
    assert r.mean == pytest.approx(27 / 256)
    assert r.ci[0] > 0 and r.ci[1] < 0.2 and r.p_greater == 1.0


def test_a_balanced_difference_includes_zero():
    # 20 items better, 19 worse: +1 item of 256, a coin flip
    b = [True] * 19 + [False] * 20 + [True] * 50 + [False] * 167
    a = [False] * 19 + [True] * 20 + [True] * 50 + [False] * 167
    r = paired_bootstrap(a, b)
    assert r.mean == pytest.approx(1 / 256)
    assert r.ci[0] < 0 < r.ci[1]
    assert 0.4 < r.p_greater < 0.7


def test_one_item_gain_has_the_known_probability():
    # the one differing item is drawn at least once with probability 1 - (1 - 1/n)^n
    n = 256
    r = paired_bootstrap([1] + [0] * (n - 1), [0] * n)
    expect = 1 - (1 - 1 / n) ** n  # 0.6328
    se = math.sqrt(expect * (1 - expect) / r.n_boot)  # 0.0048
    assert abs(r.p_greater - expect) < 4 * se
    assert r.ci == (0.0, pytest.approx(3 / n))  # 0, 1, 2 or 3 copies at the 95% level


def test_interval_matches_the_binomial_width():
    # 128 of 256 differences are +1, the rest 0: sd of the mean = sqrt(.25/256) = 0.03125
    r = paired_bootstrap([1] * 128 + [0] * 128, [0] * 256, n_boot=20_000)
    assert r.mean == 0.5
    assert r.ci[0] == pytest.approx(0.5 - 1.96 * 0.03125, abs=0.01)
    assert r.ci[1] == pytest.approx(0.5 + 1.96 * 0.03125, abs=0.01)


def test_level_changes_the_interval():
    a, b = [1] * 60 + [0] * 40, [1] * 50 + [0] * 50
    wide, narrow = paired_bootstrap(a, b, ci=0.99), paired_bootstrap(a, b, ci=0.5)
    assert wide.ci[0] < narrow.ci[0] < narrow.ci[1] < wide.ci[1]
    with pytest.raises(ValueError, match="level 0.5"):
        narrow.ci95


def test_a_fixed_seed_is_deterministic_and_the_seed_matters():
    rng = np.random.default_rng(7)
    a, b = (rng.random(300) < 0.55).tolist(), (rng.random(300) < 0.5).tolist()
    assert paired_bootstrap(a, b, seed=1) == paired_bootstrap(a, b, seed=1)
    assert paired_bootstrap(a, b, seed=1).p_greater != paired_bootstrap(a, b, seed=2).p_greater
    g = [(a[:150], b[:150]), (a[150:], b[150:])]
    assert clustered_paired_bootstrap(g, seed=4) == clustered_paired_bootstrap(g, seed=4)


def test_as_dict_is_json_friendly():
    d = paired_bootstrap([1, 0], [0, 0], n_boot=10).as_dict()
    assert d["ci"] == list(d["ci"]) and set(d) == {"mean", "ci", "p_greater", "n", "n_groups",
                                                    "level", "n_boot"}


@pytest.mark.parametrize("a,b,needle", [
    ([1, 0, 1], [1, 0], "got 3 and 2"),
    ([], [], "no items"),
    ([1.0, float("nan")], [0, 0], "finite"),
])
def test_bad_input_is_named(a, b, needle):
    with pytest.raises(ValueError, match=needle):
        paired_bootstrap(a, b)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="n_boot"):
        paired_bootstrap([1], [0], n_boot=0)
    with pytest.raises(ValueError, match="ci must be"):
        paired_bootstrap([1], [0], ci=1.0)


# two-level (seeds, then items)

def test_clustered_constant_seeds_have_the_exact_seed_distribution():
    # seed 1: +1 on every item, seed 2: 0 on every item. Items add no noise; replicate means
    # are 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4.
    r = clustered_paired_bootstrap([([1] * 256, [0] * 256), ([0] * 100, [0] * 100)])
    assert r.mean == 0.5 and r.n == 356 and r.n_groups == 2
    assert r.ci == (0.0, 1.0)
    assert abs(r.p_greater - 0.75) < 4 * math.sqrt(0.75 * 0.25 / r.n_boot)


def test_clustered_interval_is_wider_than_pooling_the_seeds():
    # the same data pooled into one paired bootstrap ignores the seed spread
    groups = [([1] * 256, [0] * 256), ([0] * 256, [0] * 256)]
    pooled = paired_bootstrap([1] * 256 + [0] * 256, [0] * 512)
    clustered = clustered_paired_bootstrap(groups)
    assert pooled.mean == clustered.mean == 0.5
    assert pooled.ci[1] - pooled.ci[0] < 0.15 < 0.9 < clustered.ci[1] - clustered.ci[0]
    assert pooled.p_greater == 1.0 and clustered.p_greater < 0.8


def test_clustered_mean_weighs_every_seed_the_same():
    # per-seed means 1.0 (4 items) and 0.0 (1000 items): mean over seeds 0.5, not 4/1004
    r = clustered_paired_bootstrap([([1] * 4, [0] * 4), ([0] * 1000, [0] * 1000)], n_boot=200)
    assert r.mean == 0.5


def test_clustered_agreeing_seeds_are_all_in_the_interval():
    r = clustered_paired_bootstrap([([2] * 10, [1] * 10)] * 3, n_boot=300)
    assert r.mean == 1.0 and r.ci == (1.0, 1.0) and r.p_greater == 1.0


def test_clustered_with_one_seed_is_the_item_bootstrap():
    a, b = [1] * 40 + [0] * 60, [1] * 30 + [0] * 70
    one, plain = clustered_paired_bootstrap([(a, b)], n_boot=20_000), paired_bootstrap(a, b, n_boot=20_000)
    assert one.mean == plain.mean == pytest.approx(0.1)
    assert one.ci == pytest.approx(plain.ci, abs=0.015)
    assert one.p_greater == pytest.approx(plain.p_greater, abs=0.01)


def test_clustered_bad_input_is_named():
    with pytest.raises(ValueError, match="no groups"):
        clustered_paired_bootstrap([])
    with pytest.raises(ValueError, match=r"group 1: .*got 3 and 4"):
        clustered_paired_bootstrap([([1], [0]), ([1, 1, 1], [0, 0, 0, 0])])
    with pytest.raises(ValueError, match="group 0: expected an"):
        clustered_paired_bootstrap([([1], [0], [2])])
