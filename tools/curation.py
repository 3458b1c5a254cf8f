"""What stands between generated samples and training: verification, dedup, decontamination
and the per-iteration budget. Every dropped sample is kept with its reason.

Checks, in order (the first that fires is the sample's `reject_reason`; the text before ':' is
the stable name counted in the round's metrics):

| reason | rule |
| --- | --- |
| `failed verification` | `task.verify` fails (skipped when the generator set `verified`) |
| `contaminated` | same `task.signature` as a validation/test item |
| `contaminated n-gram` | shares a 13-token n-gram (lm-evaluation-harness rule) with a validation/test question, or equals a short one |
| `contaminated near-duplicate` | near duplicate of a validation/test question: the same numbers and shingle Jaccard >= 0.5, or >= 0.3 when they share two or more numbers |
| `solution contamination` | a non-trivial equation of the sample's solution is the final equation of a validation/test item's solution (`45 * 7 = 315` in a `mul` sample and a `money` test item) |
| `duplicate of an earlier iteration` | same signature as a sample kept in an earlier iteration |
| `duplicate within this iteration` | same signature as a sample kept earlier in this batch |
| `near-duplicate of an earlier iteration` | near duplicate (Jaccard >= 0.7, same numbers) of a sample kept earlier |
| `near-duplicate within this iteration` | near duplicate of a sample kept earlier in this batch |
| `over budget` | beyond the round's budget (taken round-robin across source errors) |

The compared text is the question (for code tasks the prompt, for multiple choice the question
and its options): see `lai.tools.dedup` for the tokenisation and why the thresholds. Solutions
(`answer`) are compared by their equations: see `lai.tools.equations` for the normalisation,
which equations are trivial and why only held-out *final* equations count.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping

from lai.tools.dedup import Decontaminator, NearDuplicateIndex, item_text, keyed_texts
from lai.tools.equations import FinalEquationIndex
from lai.tools.tasks.base import Item, Task

NGRAM_N = 13
HELD_OUT_THRESHOLD = 0.5
"""Shingle Jaccard at which a sample is a rewording of a held-out item (same numbers). Lower
than the dedup threshold: leaking a test item costs more than a wasted training sample."""
HELD_OUT_NUMBERED_THRESHOLD = 0.3
"""The same, when the two texts share the same set of two or more numbers. No two distinct
GSM8K test questions (nor `arith` items) with the same numbers reach 0.2; light rewordings of
GSM8K questions with 5 words swapped or replaced stay above 0.3 in 98% of cases."""
DEDUP_THRESHOLD = 0.7
"""Shingle Jaccard at which two training samples are the same problem reworded."""

REASONS = (
    "failed verification", "contaminated", "contaminated n-gram", "contaminated near-duplicate",
    "solution contamination", "duplicate of an earlier iteration",
    "duplicate within this iteration", "near-duplicate of an earlier iteration",
    "near-duplicate within this iteration", "over budget",
)
"""The reject reasons (the part of `reject_reason` before ':'), in the order they are checked."""


def curate(
    task: Task, samples: list[Item], budget: int,
    seen: Iterable[str] = (), held_out: Iterable[str] = (), *,
    held_out_texts: Iterable[str] | Mapping[Hashable, str] | None = None,
    held_out_solutions: Iterable[str] | Mapping[Hashable, str] | None = None,
    seen_texts: Iterable[str] | Mapping[Hashable, str] | None = None,
    ngram_n: int = NGRAM_N,
    held_out_threshold: float | None = HELD_OUT_THRESHOLD,
    held_out_numbered_threshold: float | None = HELD_OUT_NUMBERED_THRESHOLD,
    dedup_threshold: float | None = DEDUP_THRESHOLD,
) -> tuple[list[Item], list[Item], dict[str, int]]:
    """Split samples into kept and rejected.

    Args:
        seen: signatures of samples kept in earlier iterations (cross-iteration duplicates).
        held_out: signatures of validation and test items (contamination).
        held_out_texts: texts (`dedup.item_text`) of the validation and test items, a mapping
            id -> text or a list; enables the n-gram and near-duplicate contamination rules.
        held_out_solutions: worked solutions (`answer`) of the validation and test items, a
            mapping id -> solution or a list; enables `solution contamination`: a sample any of
            whose non-trivial equations is a held-out item's final equation is dropped.
        seen_texts: texts of the samples kept in earlier iterations (id -> text or a list);
            enables near-duplicate detection across iterations. Near duplicates within this
            iteration are always checked.
        ngram_n: tokens in a contaminating n-gram.
        held_out_threshold, dedup_threshold: shingle Jaccard thresholds; None turns the rule off.
        held_out_numbered_threshold: the held-out threshold for texts that share two or more
            numbers (`NearDuplicateIndex.numbered_threshold`).
    Returns:
        kept, rejected (each with `reject_reason`), and counts: `kept`, `rejected`, and one
        count per reason that occurred (the text of `reject_reason` before ':').
    """
    seen, held_out = set(seen), set(held_out)
    if held_out_texts is not None and not isinstance(held_out_texts, Mapping):
        held_out_texts = list(held_out_texts)  # read twice below
    decon = Decontaminator(held_out_texts, ngram_n) if held_out_texts is not None else None
    finals = FinalEquationIndex(held_out_solutions) if held_out_solutions is not None else None
    held_index = earlier = batch_index = None
    if held_out_threshold is not None and held_out_texts is not None:
        held_index = NearDuplicateIndex(held_out_threshold,
                                        numbered_threshold=held_out_numbered_threshold)
        for key, text in keyed_texts(held_out_texts):
            held_index.add(key, text)
    if dedup_threshold is not None:
        batch_index = NearDuplicateIndex(dedup_threshold)
        if seen_texts is not None:
            earlier = NearDuplicateIndex(dedup_threshold)
            for key, text in keyed_texts(seen_texts):
                earlier.add(key, text)

    candidates, rejected, batch = [], [], set()
    for item in samples:
        reason = _reject_reason(task, item, seen, held_out, batch, decon, held_index, finals,
                                earlier, batch_index)
        if reason:
            rejected.append({**item, "reject_reason": reason})
        else:
            candidates.append(item)
            batch.add(task.signature(item))
            if batch_index is not None:
                batch_index.add(item.get("id"), item_text(item))
    kept = _fair_cap(candidates, budget)
    kept_ids = {id(item) for item in kept}
    rejected += [{**item, "reject_reason": "over budget"} for item in candidates
                 if id(item) not in kept_ids]
    counts = Counter(r["reject_reason"].split(":")[0] for r in rejected)
    return kept, rejected, {"kept": len(kept), "rejected": len(rejected), **counts}


def _reject_reason(task, item, seen, held_out, batch, decon, held_index, finals, earlier,
                   batch_index) -> str | None:
    # The generator agent has verified its samples already (the sandbox is not free).
    ok, why = (True, "ok") if item.get("verified") else task.verify(item)
    if not ok:
        return f"failed verification: {why}"
    sig = task.signature(item)
    if sig in held_out:
        return "contaminated: matches a validation/test item"
    text = item_text(item)
    if decon is not None and (found := decon.match(text)):
        gram, key = found
        return f"contaminated n-gram: shares {gram!r} with validation/test item {key}"
    if held_index is not None and (found := held_index.match(text)):
        return (f"contaminated near-duplicate: of validation/test item {found[0]} "
                f"(Jaccard {found[1]:.2f})")
    if finals is not None and (found := finals.match(str(item.get("answer") or ""))):
        return (f"solution contamination: '{found[0]}' is the final equation of validation/test "
                f"item {found[1]}")
    if sig in seen:
        return "duplicate of an earlier iteration"
    if sig in batch:
        return "duplicate within this iteration"
    if earlier is not None and (found := earlier.match(text)):
        return f"near-duplicate of an earlier iteration: of {found[0]} (Jaccard {found[1]:.2f})"
    if batch_index is not None and (found := batch_index.match(text)):
        return f"near-duplicate within this iteration: of {found[0]} (Jaccard {found[1]:.2f})"
    return None


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
