"""Cut the committed test fixtures (this folder) from the shared benchmark files, so the task
tests run where `../shared/data` is not: a few rows of each file, plus the rows that carry a
case the tests check (fractions, several `####`, relabelled and 3- or 5-option ARC questions,
MBPP's corrupted rows and the first mining item, Mistral-7B answers of each kind).

    python tests/data/make_fixtures.py ../shared/data
"""

import json
import sys
from pathlib import Path

OUT = Path(__file__).parent


def rows(src: Path, rel: str) -> list[str]:
    return (src / rel).read_text(encoding="utf-8").splitlines(keepends=True)


def pick(lines: list[str], first: int, keep) -> list[str]:
    """The first `first` lines, and every later one that `keep(row, line_number)` selects, in
    file order (`row` is None on a line that is not JSON)."""
    out = []
    for i, line in enumerate(lines):
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if i < first or keep(row if isinstance(row, dict) else {}, i + 1):
            out.append(line)
    return out


def _label_not_last(row: dict) -> bool:
    """A GSM-Plus gold solution with several `####` whose label is not the last one."""
    answer = str(row.get("answer", ""))
    tail = answer.rsplit("####", 1)[-1].strip().split()
    return answer.count("####") > 1 and tail[:1] != [str(row.get("extracted_answer"))]


def main(src: Path) -> None:
    plans = {
        "gsm8k/test.jsonl": (24, lambda r, n: False),
        # the perturbation types come in blocks: every 100th row samples them all
        "gsm8k_plus/test.jsonl": (24, lambda r, n: n % 100 == 0 or "/" in str(r.get("extracted_answer"))
                                  or _label_not_last(r)),
        "mmlu/train.jsonl": (24, lambda r, n: False),
        "arc_challenge/test.jsonl": (16, lambda r, n: bool(r) and r.get("label") != list("ABCD")),
        "humaneval/test.jsonl": (8, lambda r, n: False),
        "mbpp/train.jsonl": (12, lambda r, n: r.get("entry_point") == "find_Min_Sum"),
        "mbpp/test.jsonl": (12, lambda r, n: n in (370, 452)),  # the corrupted rows
        "mistral7b_errors/gsm8k/train_right.jsonl": (30, lambda r, n: False),
        "mistral7b_errors/mmlu/train_right.jsonl": (30, lambda r, n: False),
        "mistral7b_errors/mmlu/train_wrong.jsonl": (30, lambda r, n: False),
        "mistral7b_errors/mbpp/train_right.jsonl": (18, lambda r, n: False),
        "mistral7b_errors/mbpp/train_wrong.jsonl": (18, lambda r, n: False),
    }
    for rel, (first, keep) in plans.items():
        out = OUT / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(pick(rows(src, rel), first, keep)), encoding="utf-8")
        print(rel, len(out.read_text().splitlines()))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
