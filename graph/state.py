"""The loop's state: small values and paths only; artifacts live in per-iteration folders.

Two keys have LangGraph reducers, so a node returns only what it adds: `history` appends the
rows a node returns, and `current` merges a node's keys into this round's row (a row naming
its `iteration` starts a new round). `apply_update` does the same for code that calls nodes
by hand (benches, tests).
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict


def merge_round(row: dict | None, update: dict | None) -> dict:
    """`current`'s reducer: `update`'s keys added to the round's row; an update that names its
    `iteration` starts a new row (`mine` opens each round)."""
    if update is None:
        return dict(row or {})
    return dict(update) if "iteration" in update else {**(row or {}), **update}


class LoopState(TypedDict, total=False):
    iteration: int
    """Round in progress, 1-based (0 = the baseline evaluation)."""
    iter_dir: str
    """This round's folder, `<run>/iter_<k>/`."""
    current: Annotated[dict, merge_round]
    """This round's row of the metrics table, filled in node by node."""
    history: Annotated[list[dict], operator.add]
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


_REDUCERS = {"current": merge_round, "history": lambda rows, new: (rows or []) + list(new)}


def apply_update(state: dict[str, Any], update: dict[str, Any] | None) -> dict[str, Any]:
    """`state` after a node's `update`, reduced as the graph reduces it."""
    out = dict(state)
    for key, value in (update or {}).items():
        out[key] = _REDUCERS[key](state.get(key), value) if key in _REDUCERS else value
    return out
