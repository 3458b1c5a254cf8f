"""The stopping rule: a pure function of the validation history, easy to test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from lai.graph.config import LoopConfig
from lai.tools.stats import paired_bootstrap

N_BOOT = 10_000
"""Bootstrap replicates behind `Decision.p_better` (seed 0: the same rows, the same verdict)."""


@dataclass(frozen=True)
class Decision:
    keep: bool
    """This round's adapter becomes the best one (it beat the best one by `loop.keep_rule`)."""
    stale: int
    """Rounds in a row without a gain of at least `min_delta`."""
    stop_reason: str | None
    """Why the loop ends now, or None to go on."""
    reason: str = ""
    """Why the round is kept or rolled back, in one sentence."""
    p_better: float | None = None
    """Bootstrap probability that the round beats the best one; None without per-item results."""


def decide(
    score: float | None, best_score: float, stale: int, iteration: int, loop: LoopConfig, *,
    new_correct: list[bool] | None = None, best_correct: list[bool] | None = None,
    new_groups: Mapping[str, float] | None = None, best_groups: Mapping[str, float] | None = None,
) -> Decision:
    """Judge round `iteration` whose validation accuracy is `score` (None: the round failed).

    A round that is not kept is rolled back (`keep=False`): the next round starts again from the
    best adapter. Kept when:

    * `loop.keep_rule == "greater"`: `score > best_score`.
    * `loop.keep_rule == "bootstrap"`: `score > best_score` and a paired bootstrap of
      `new_correct - best_correct` over the validation items gives P(better) >=
      `loop.keep_confidence`. Without both per-item lists the rule falls back to `greater`
      (the reason says so).
    * and, when `loop.guard_margin` is set and both group dicts are given, no strong group (best
      accuracy >= `loop.guard_min_accuracy`) falls more than `guard_margin` below the best round.
      A group missing from `new_groups` is not checked.

    Stops at `target_accuracy` (of the best score after this round), after `patience` rounds in
    a row without a kept gain of `min_delta` (a round not kept, or kept with a smaller gain, is
    stale), or at `max_iterations`, whichever comes first.

    Args:
        new_correct, best_correct: per-item correctness of this round and of the best round on
            the same validation items in the same order (`paired_evidence` builds them).
        new_groups, best_groups: validation accuracy per group (skill) of the two rounds.

    Raises:
        ValueError: the two per-item lists differ in length or are empty.
    """
    p_better = None
    if new_correct is not None and best_correct is not None:
        p_better = paired_bootstrap(new_correct, best_correct, n_boot=N_BOOT, seed=0).p_greater
    if score is None:
        keep, why = False, "the round failed (no validation score)"
    else:
        keep, why = _judge(score - best_score, p_better, loop)
        if keep:
            fallen = _guard(loop, new_groups, best_groups)
            if fallen:
                keep, why = False, f"guard: {fallen} (overall {why})"
    gained = keep and score >= best_score + loop.min_delta
    stale = 0 if gained else stale + 1
    best = score if keep else best_score
    if loop.target_accuracy is not None and best >= loop.target_accuracy:
        reason = f"reached target accuracy {loop.target_accuracy:.3f}"
    elif stale >= loop.patience:
        reason = f"no gain of {loop.min_delta:.3f} in {stale} round(s) (patience {loop.patience})"
    elif iteration >= loop.max_iterations:
        reason = f"reached max_iterations={loop.max_iterations}"
    else:
        reason = None
    return Decision(keep=keep, stale=stale, stop_reason=reason,
                    reason=("kept: " if keep else "rolled back: ") + why, p_better=p_better)


def _judge(delta: float, p_better: float | None, loop: LoopConfig) -> tuple[bool, str]:
    points = f"{100 * delta:+.1f} points"
    if loop.keep_rule == "bootstrap" and p_better is not None:
        p = f"P(better)={p_better:.2f}"
        if delta <= 0:
            return False, f"{points}, not above the best, {p}"
        if p_better < loop.keep_confidence:
            return False, f"{points}, {p} < {loop.keep_confidence:.2f}"
        return True, f"{points}, {p}"
    note = "" if loop.keep_rule == "greater" else " (no per-item results: rule `greater`)"
    p = "" if p_better is None else f", P(better)={p_better:.2f}"
    if delta <= 0:
        return False, f"{points}, not above the best{p}{note}"
    return True, f"{points}{p}{note}"


def _guard(loop: LoopConfig, new: Mapping[str, float] | None,
           best: Mapping[str, float] | None) -> str | None:
    """The strong groups that fell more than `guard_margin`, worst first; None if none did."""
    if loop.guard_margin is None or not new or not best:
        return None
    drops = [(best[g] - new[g], g) for g in best
             if best[g] >= loop.guard_min_accuracy and g in new
             and best[g] - new[g] > loop.guard_margin + 1e-9]
    if not drops:
        return None
    return ", ".join(f"skill {g} fell {100 * d:.1f} points ({best[g]:.3f} -> {new[g]:.3f})"
                     for d, g in sorted(drops, key=lambda x: (-x[0], x[1])))


def paired_evidence(
    new_rows: Iterable[Mapping], best_rows: Iterable[Mapping], group_by: str = "skill",
) -> dict:
    """`decide`'s per-item keyword arguments from two rounds' validation rows.

    Rows are `eval_validation.jsonl` rows (`id`, `correct`, and `group_by`, e.g. `skill`);
    they are paired by `id`, in the order of `new_rows`. A row whose group is missing or None
    counts in group `-` (as the evaluator's `by_skill` does).

    Returns: `{"new_correct", "best_correct", "new_groups", "best_groups"}`.

    Raises:
        ValueError: an id repeated, or the two rounds not scored on the same ids.
    """
    new_rows, best_rows = list(new_rows), list(best_rows)
    new_by_id, best_by_id = _by_id(new_rows, "new"), _by_id(best_rows, "best")
    if new_by_id.keys() != best_by_id.keys():
        only_new = sorted(map(str, new_by_id.keys() - best_by_id.keys()))
        only_best = sorted(map(str, best_by_id.keys() - new_by_id.keys()))
        raise ValueError(
            f"validation rows differ: {len(new_rows)} new vs {len(best_rows)} best; only in new: "
            f"{only_new[:5]}{'...' if len(only_new) > 5 else ''}, only in best: "
            f"{only_best[:5]}{'...' if len(only_best) > 5 else ''}")
    order = [r["id"] for r in new_rows]
    return {
        "new_correct": [bool(new_by_id[i]["correct"]) for i in order],
        "best_correct": [bool(best_by_id[i]["correct"]) for i in order],
        "new_groups": _group_accuracy(new_rows, group_by),
        "best_groups": _group_accuracy(best_rows, group_by),
    }


def _by_id(rows: list[Mapping], which: str) -> dict:
    out: dict = {}
    for r in rows:
        if r["id"] in out:
            raise ValueError(f"{which} validation rows: id {r['id']!r} appears twice")
        out[r["id"]] = r
    return out


def _group_accuracy(rows: list[Mapping], key: str) -> dict[str, float]:
    groups: dict[str, list[bool]] = {}
    for r in rows:
        groups.setdefault(r.get(key) or "-", []).append(bool(r["correct"]))
    return {g: sum(v) / len(v) for g, v in sorted(groups.items())}
