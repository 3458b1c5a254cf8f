"""What stands between generated samples and training: verification, dedup, decontamination
and the per-iteration budget. Every dropped sample is kept with its reason."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable

from lai.tools.tasks.base import Item, Task


def curate(
    task: Task, samples: list[Item], budget: int,
    seen: Iterable[str] = (), held_out: Iterable[str] = (),
) -> tuple[list[Item], list[Item], dict[str, int]]:
    """Split samples into kept and rejected.

    Args:
        seen: signatures of samples kept in earlier iterations (cross-iteration duplicates).
        held_out: signatures of validation and test items (contamination).
    Returns:
        kept, rejected (each with `reject_reason`), and counts per reason.
    """
    seen, held_out = set(seen), set(held_out)
    candidates, rejected, batch = [], [], set()
    for item in samples:
        # The generator agent has verified its samples already (the sandbox is not free).
        ok, why = (True, "ok") if item.get("verified") else task.verify(item)
        sig = task.signature(item)
        reason = (
            f"failed verification: {why}" if not ok
            else "contaminated: matches a validation/test item" if sig in held_out
            else "duplicate of an earlier iteration" if sig in seen
            else "duplicate within this iteration" if sig in batch
            else None
        )
        if reason:
            rejected.append({**item, "reject_reason": reason})
        else:
            candidates.append(item)
            batch.add(sig)
    kept = _fair_cap(candidates, budget)
    kept_ids = {item["id"] for item in kept}
    rejected += [{**item, "reject_reason": "over budget"} for item in candidates
                 if item["id"] not in kept_ids]
    counts = Counter(r["reject_reason"].split(":")[0] for r in rejected)
    return kept, rejected, {"kept": len(kept), "rejected": len(rejected), **counts}


def _fair_cap(items: list[Item], budget: int) -> list[Item]:
    """Take items round-robin across source errors, so every error keeps a share of the budget."""
    by_source: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_source[item.get("source_error", "")].append(item)
    queues = list(by_source.values())
    kept: list[Item] = []
    while len(kept) < budget and any(queues):
        for q in queues:
            if q and len(kept) < budget:
                kept.append(q.pop(0))
    return kept
