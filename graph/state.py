"""The loop's state: small values and paths only; artifacts live in per-iteration folders."""

from __future__ import annotations

from typing import TypedDict


class LoopState(TypedDict, total=False):
    iteration: int
    """Round in progress, 1-based (0 = the baseline evaluation)."""
    iter_dir: str
    """This round's folder, `<run>/iter_<k>/`."""
    current: dict
    """This round's row of the metrics table, filled in node by node."""
    history: list[dict]
    """Finished rounds, the baseline first."""
    best_iteration: int
    """Round whose adapter is best on validation; 0 = the untouched base model."""
    best_adapter: str | None
    best_score: float
    stale: int
    """Rounds in a row without a gain of `loop.min_delta`."""
    candidate_adapter: str | None
    """Adapter trained this round, until `decide` keeps or rolls it back."""
    stop_reason: str | None
    test: dict
    """Test accuracy of the base model and of the best adapter."""
