"""A run folder's file names, in one place: the nodes write these files, and `lai show`,
`lai trace`, `lai report` and `lai export` read them back.

    runs/<id>/config.yaml, state.sqlite, trace.sqlite, metrics.json, status.json, usage.json,
              splits.json, report.html
    runs/<id>/iter_000/        the baseline's evaluations
    runs/<id>/iter_<k>/        round k: eval_mining.jsonl → ... → adapter/ (see `RoundFiles`)
"""

from __future__ import annotations

import re
from pathlib import Path


def _file(name: str, doc: str) -> property:
    return property(lambda self: self.dir / name, doc=doc)


class RoundFiles:
    """One round's folder, `iter_<k>/`, and its files in the order the nodes write them."""

    def __init__(self, folder: Path):
        self.dir = Path(folder)

    def eval(self, split: str) -> Path:
        """Evaluation rows of a split (`mining`, `validation`, `test`)."""
        return self.dir / f"eval_{split}.jsonl"

    mine_right = _file("mine_right.jsonl", "Mining items the best model answered right.")
    mine_wrong = _file("mine_wrong.jsonl", "... and wrong: the errors to choose from.")
    selected = _file("selected.jsonl", "The round's errors, with their LEC neighbours.")
    analyses = _file("analyses.jsonl", "The analyst's reply per error.")
    allocation = _file("allocation.json", "Samples asked for per error, and why.")
    generated = _file("generated.jsonl", "Samples that passed verification.")
    generator_calls = _file("generator_calls.jsonl", "Every generator call: messages and reply.")
    generation_rejects = _file("generation_rejects.jsonl", "Every sample version that failed.")
    kept = _file("kept.jsonl", "Samples curation kept: the round's training data.")
    rejected = _file("rejected.jsonl", "Samples curation dropped, with the reason.")
    train = _file("train.jsonl", "Prompt/completion rows: kept samples plus replay.")
    train_job = _file("train_job.json", "The training job handed to the child process.")
    train_log = _file("train_log.jsonl", "Training progress records.")
    train_stdout = _file("train_stdout.log", "The training child's output.")
    adapter = _file("adapter", "The LoRA adapter trained this round.")


class RunLayout:
    """A run folder, `<runs_dir>/<id>/`: its own files and its rounds."""

    def __init__(self, root: Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml", doc="The resolved config.")
    state = property(lambda self: self.root / "state.sqlite", doc="LangGraph checkpoints.")
    trace = property(lambda self: self.root / "trace.sqlite", doc="Node runs and LLM calls.")
    metrics = property(lambda self: self.root / "metrics.json", doc="Per-round table, test scores.")
    status = property(lambda self: self.root / "status.json", doc="running / finished / ...")
    usage = property(lambda self: self.root / "usage.json", doc="Instructor tokens and cost.")
    splits = property(lambda self: self.root / "splits.json", doc="How the splits were made.")
    report = property(lambda self: self.root / "report.html", doc="`lai report`'s default page.")

    def round_dir(self, k: int) -> Path:
        """Round k's folder (0 = the baseline)."""
        return self.root / f"iter_{k:03d}"

    def round(self, k: int) -> RoundFiles:
        return RoundFiles(self.round_dir(k))

    def rounds(self) -> list[int]:
        """The rounds that have a folder, in order."""
        return sorted(int(m[1]) for p in self.root.glob("iter_*")
                      if p.is_dir() and (m := re.fullmatch(r"iter_(\d+)", p.name)))
