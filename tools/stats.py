"""Paired bootstrap statistics: is model A better than model B on the same items, beyond noise?

Used by the loop's keep/rollback rule (`lai.graph.stopping`) and by benchmarks that compare
runs. Scores are per item (bools or floats) and *paired*: position i of `a` and of `b` is the
same item, so each item's difference `a[i] - b[i]` is what is resampled, which cancels the
item-difficulty variance that an unpaired comparison would carry.

* `paired_bootstrap`: one comparison on one set of items (one seed). Item indices are drawn
  with replacement; the statistic is the mean difference.
* `clustered_paired_bootstrap`: several seeds (runs), each a paired comparison on its own
  items. Two-level bootstrap: draw seeds with replacement, then items with replacement within
  each drawn seed (each copy of a seed drawn twice gets its own item resample). Across seeds
  of the same training recipe, the run-to-run spread (data order, sampled training data,
  LoRA init) is usually larger than the item-sampling noise of a single evaluation; pooling
  every seed's items into one `paired_bootstrap` would treat those runs as if they were one
  and give a confidence interval that is far too narrow. Resampling seeds puts the seed
  variance into the interval. With few seeds (2-3) the seed level is coarse: the interval
  then mostly says how far apart the seeds are.

Intervals are percentile intervals of the bootstrap means; `p_greater` is the fraction of
bootstrap means above zero (a bootstrap estimate of P(A better than B), not a p-value).
With very few discordant items the percentile bootstrap is optimistic: one item better and
none worse gives p_greater ~ 1 - 1/e = 0.63, two give ~ 0.86, whatever the number of items.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

_CHUNK = 4_000_000
"""Resampled item indices held in memory at once (32 MB of int64)."""


@dataclass(frozen=True)
class BootstrapResult:
    mean: float
    """Observed mean of a - b, in the units given (accuracy fraction for bools)."""
    ci: tuple[float, float]
    """Percentile bootstrap interval [lo, hi] of the mean difference at `level`."""
    p_greater: float
    """Fraction of bootstrap means > 0 (ties at 0 count as not greater)."""
    n: int
    """Paired items (all seeds together for the clustered version)."""
    n_groups: int
    """Seeds (1 for `paired_bootstrap`)."""
    level: float
    """Coverage of `ci` (0.95 by default)."""
    n_boot: int
    """Bootstrap replicates."""

    @property
    def ci95(self) -> tuple[float, float]:
        """`ci` when it is a 95% interval (the default); ValueError otherwise."""
        if abs(self.level - 0.95) > 1e-12:
            raise ValueError(f"this interval is at level {self.level}, not 0.95: use .ci")
        return self.ci

    def as_dict(self) -> dict:
        return {**asdict(self), "ci": list(self.ci)}


def paired_bootstrap(
    a: Sequence[float | bool], b: Sequence[float | bool], n_boot: int = 10_000,
    seed: int = 0, ci: float = 0.95,
) -> BootstrapResult:
    """Bootstrap the mean of `a - b` over items, `a[i]` and `b[i]` being the same item.

    Raises:
        ValueError: `a` and `b` differ in length or are empty, hold a non-finite value, or
            `n_boot` / `ci` are out of range.
    """
    _check_params(n_boot, ci)
    d = _diffs(a, b, "a and b")
    rng = np.random.default_rng(seed)
    means = _resampled_means(d, n_boot, rng)
    return _result(float(d.mean()), means, n=len(d), n_groups=1, level=ci, n_boot=n_boot)


def clustered_paired_bootstrap(
    groups: Sequence[tuple[Sequence[float | bool], Sequence[float | bool]]],
    n_boot: int = 10_000, seed: int = 0, ci: float = 0.95,
) -> BootstrapResult:
    """Two-level bootstrap over seeds, then items within each seed (see the module docstring).

    Args:
        groups: one `(a_i, b_i)` pair per seed, paired per item within the seed; seeds may
            have different numbers of items.

    Returns: `mean` = the mean over seeds of each seed's mean difference (every seed weighs
        the same, whatever its number of items), and the interval and `p_greater` of that
        statistic under the two-level resampling.

    Raises:
        ValueError: no groups, or a group whose two sides differ in length or are empty.
    """
    _check_params(n_boot, ci)
    if len(groups) == 0:
        raise ValueError("clustered_paired_bootstrap: no groups (need one (a, b) pair per seed)")
    diffs = []
    for i, g in enumerate(groups):
        if len(g) != 2:
            raise ValueError(f"group {i}: expected an (a, b) pair, got {len(g)} element(s)")
        diffs.append(_diffs(g[0], g[1], f"group {i}"))
    s = len(diffs)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, s, size=(n_boot, s))  # seeds drawn for each replicate
    seed_means = np.empty((n_boot, s))
    for g, d in enumerate(diffs):  # an independent item resample for every copy of seed g
        where = picks == g
        seed_means[where] = _resampled_means(d, int(where.sum()), rng)
    means = seed_means.mean(axis=1)
    observed = float(np.mean([d.mean() for d in diffs]))
    return _result(observed, means, n=sum(len(d) for d in diffs), n_groups=s, level=ci,
                   n_boot=n_boot)


def _check_params(n_boot: int, ci: float) -> None:
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1), got {ci!r}")


def _diffs(a, b, what: str) -> np.ndarray:
    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if len(x) != len(y):
        raise ValueError(f"{what}: paired scores need equal lengths, got {len(x)} and {len(y)}")
    if len(x) == 0:
        raise ValueError(f"{what}: no items (lengths 0 and 0)")
    d = x - y
    if not np.all(np.isfinite(d)):
        raise ValueError(f"{what}: scores must be finite numbers")
    return d


def _resampled_means(d: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` means of `d` resampled with replacement, in chunks that bound memory."""
    n = len(d)
    out = np.empty(count)
    step = max(1, _CHUNK // n)
    for start in range(0, count, step):
        m = min(step, count - start)
        out[start:start + m] = d[rng.integers(0, n, size=(m, n))].mean(axis=1)
    return out


def _result(observed: float, means: np.ndarray, **kw) -> BootstrapResult:
    alpha = (1.0 - kw["level"]) / 2
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return BootstrapResult(mean=observed, ci=(float(lo), float(hi)),
                           p_greater=float(np.mean(means > 0)), **kw)
