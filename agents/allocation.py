"""How a round's sample budget is spread over its errors: a named policy, recorded each round.

- `proportional`: the paper's count rule, `ceil(budget / #errors) + 1` samples for every error,
  so each skill gets budget in proportion to how many of the selected errors it has.
- `learnable`: favours errors the target can learn from now, read from the target's own
  signal rather than an LLM's opinion (arXiv 2512.00884 found the student's own signal the
  better selector). An error's weight is its skill's *learnability* times its *nearness*:
  a skill whose mining accuracy is between 0 and 100% has the most to gain (4·acc·(1-acc),
  floored at 0.25 so a skill at 0% still gets some practice), and a near miss (one named
  slip: a carry, a borrow, a skipped step, a unit, a misread number, a fact) weighs 1.5
  against 1 for a catch-all diagnosis.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

POLICIES = ("proportional", "learnable")
NEAR_MISS = {"carry slip", "borrow slip", "carry or borrow slip", "stopped early", "unit conversion",
             "misread number", "arithmetic slip", "calculation error", "missing step", "missed edge case"}


def samples_per_error(budget: int, n_errors: int) -> int:
    """The paper's count rule: ceil(budget / #errors) + 1 samples asked for each error."""
    if n_errors <= 0:
        return 0
    return math.ceil(budget / n_errors) + 1


def skill_accuracy(rows: list[dict]) -> dict[str, float]:
    """Accuracy per skill of evaluation rows (`skill`, `correct`)."""
    seen: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        seen[r.get("skill") or "-"].append(bool(r.get("correct")))
    return {k: sum(v) / len(v) for k, v in seen.items()}


def learnability(accuracy: float | None) -> float:
    if accuracy is None:
        return 1.0
    return max(0.25, 4 * accuracy * (1 - accuracy))


def allocate(sources: list[dict], budget: int, policy: str,
             accuracy: dict[str, float] | None = None) -> list[int]:
    """Samples to ask for each source (an analysis row or a selected error), in order.

    Both policies ask for the same total, `samples_per_error(budget, n) * n`, so the curation
    cap (`budget`) meets the same surplus whichever policy runs."""
    if policy not in POLICIES:
        raise ValueError(f"allocation policy must be one of {POLICIES}, got {policy!r}")
    n = samples_per_error(budget, len(sources))
    if policy == "proportional" or not sources:
        return [n] * len(sources)
    weights = []
    for s in sources:
        skill = (s.get("item") or {}).get("skill")
        near = 1.5 if str(s.get("category", "")).lower() in NEAR_MISS else 1.0
        weights.append(learnability((accuracy or {}).get(skill)) * near)
    total = n * len(sources)
    counts = [max(1, math.floor(total * w / sum(weights))) for w in weights]
    order = sorted(range(len(sources)), key=lambda i: -weights[i])
    for i in order[: max(0, total - sum(counts))]:  # hand out what flooring left over
        counts[i] += 1
    return counts


def allocation_record(sources: list[dict], counts: list[int], policy: str,
                      accuracy: dict[str, float] | None) -> dict:
    """What `allocation.json` holds: the policy, the signal it read, and the counts it chose."""
    per_skill: Counter = Counter()
    per_category: Counter = Counter()
    for s, c in zip(sources, counts):
        per_skill[(s.get("item") or {}).get("skill") or "-"] += c
        per_category[s.get("category") or "none"] += c
    return {"policy": policy, "mining_accuracy_by_skill": accuracy or {},
            "requested": sum(counts), "per_skill": dict(per_skill), "per_category": dict(per_category),
            "per_error": [{"error_id": s.get("error_id") or s.get("id"),
                           "skill": (s.get("item") or {}).get("skill"),
                           "category": s.get("category"), "n": c} for s, c in zip(sources, counts)]}
