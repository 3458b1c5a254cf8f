"""The stopping rule: a pure function of the validation history, easy to test."""

from __future__ import annotations

from dataclasses import dataclass

from lai.graph.config import LoopConfig


@dataclass(frozen=True)
class Decision:
    keep: bool
    """This round's adapter becomes the best one (it beat the best validation score)."""
    stale: int
    """Rounds in a row without a gain of at least `min_delta`."""
    stop_reason: str | None
    """Why the loop ends now, or None to go on."""


def decide(
    score: float | None, best_score: float, stale: int, iteration: int, loop: LoopConfig
) -> Decision:
    """Judge round `iteration` whose validation accuracy is `score` (None: the round failed).

    A round that does not beat the best score is rolled back (`keep=False`): the next round
    starts again from the best adapter. Stops at `target_accuracy`, after `patience` rounds
    without a `min_delta` gain, or at `max_iterations`, whichever comes first.
    """
    keep = score is not None and score > best_score
    gained = score is not None and score >= best_score + loop.min_delta
    stale = 0 if gained else stale + 1
    best = max(best_score, score) if score is not None else best_score
    if loop.target_accuracy is not None and best >= loop.target_accuracy:
        reason = f"reached target accuracy {loop.target_accuracy:.3f}"
    elif stale >= loop.patience:
        reason = f"no gain of {loop.min_delta:.3f} in {stale} round(s) (patience {loop.patience})"
    elif iteration >= loop.max_iterations:
        reason = f"reached max_iterations={loop.max_iterations}"
    else:
        reason = None
    return Decision(keep=keep, stale=stale, stop_reason=reason)
