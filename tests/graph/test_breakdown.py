"""Per-skill and per-phrasing accuracy: the evaluator's breakdown on a fake backend, the nodes
recording it in metrics.json, kept samples per skill and error category, and `lai show` /
`lai report` presenting it. Fast: no model is loaded."""

import json
import re
from collections import Counter

import pytest

from lai.agents.evaluator import Evaluator
from lai.graph import nodes
from lai.graph.cli import main
from lai.graph.config import load_config
from lai.graph.context import Context
from lai.graph.report import write_report
from lai.graph.report_skills import gather_skills, kept_breakdown
from lai.graph.state import apply_update
from lai.graph.ui import UI
from lai.tools.generation import GenerationConfig
from lai.tools.jsonl import read_jsonl, write_json, write_jsonl
from lai.tools.tasks.arith import ArithTask
from lai.tools.tasks.base import Task
from tests.graph.test_report import HAS_MPL, make_run


class FakeBackend:
    """Replies with fixed strings, in order."""

    def __init__(self, replies):
        self.replies = list(replies)

    def generate(self, conversations, progress=None):
        assert len(conversations) == len(self.replies)
        return list(self.replies)


def _replies(items, right):
    """`#### <gold>` for the items whose index is in `right`, a wrong number otherwise."""
    return [f"#### {it['target']}" if i in right else "#### -12345" for i, it in enumerate(items)]


@pytest.fixture(scope="module")
def task():
    return ArithTask(seed=0, n_mining=14, n_validation=14, n_test=14)


def _with_phrasing(items):
    """Every third item written in a held-out phrasing (whatever the task itself says)."""
    return [{**it, "held_out_phrasing": i % 3 == 0} for i, it in enumerate(items)]


def test_evaluator_breakdown_by_skill_and_phrasing(tmp_path, task):
    items = _with_phrasing(task.load("test"))[:14]  # two items of each of the 7 skills
    right = {0, 1, 2, 3, 5, 8, 13}
    report = Evaluator(task, FakeBackend(_replies(items, right)), GenerationConfig()).run(
        items, "test", tmp_path / "eval_test.jsonl")
    assert (report.n, report.n_correct) == (14, 7)
    expected = Counter()
    for i, it in enumerate(items):
        expected[(it["skill"], "n")] += 1
        expected[(it["skill"], "correct")] += i in right
    assert set(report.by_skill) == {it["skill"] for it in items}
    for skill, b in report.by_skill.items():
        assert b == {"n": expected[(skill, "n")], "correct": expected[(skill, "correct")],
                     "accuracy": round(expected[(skill, "correct")] / expected[(skill, "n")], 4)}
    # held out: indices 0, 3, 6, 9, 12 (right: 0, 3); seen: the other 9 (right: 1, 2, 5, 8, 13)
    assert report.by_phrasing == {"seen": {"n": 9, "correct": 5, "accuracy": 0.5556},
                                  "held_out": {"n": 5, "correct": 2, "accuracy": 0.4}}
    assert report.phrasing_accuracy() == {"seen": 0.5556, "held_out": 0.4}
    rows = read_jsonl(tmp_path / "eval_test.jsonl")
    assert [r["held_out_phrasing"] for r in rows] == [i % 3 == 0 for i in range(14)]
    assert [r["skill"] for r in rows] == [it["skill"] for it in items]
    summary = json.loads((tmp_path / "eval_test.summary.json").read_text())
    assert summary["by_phrasing"]["held_out"] == {"n": 5, "correct": 2, "accuracy": 0.4}
    assert summary["by_skill"] == report.by_skill


class TinyTask(Task):
    """Items grouped by `subject`, by `category`, or not at all; the answer is the text. Only
    what the evaluator calls does anything."""

    name, version, family = "tiny", 1, "math"

    def prompt(self, item):
        return [{"role": "user", "content": item["question"]}]

    def extract(self, response, item=None):
        return response.strip()

    def grade(self, extracted, item):
        return extracted == item["target"]

    load = completion = show = parse_with_rejects = verify = signature = None


def test_breakdown_groups_by_subject_or_category_and_leaves_the_rest_out(tmp_path):
    items = [{"id": "a", "question": "q", "target": "x", "subject": "law"},
             {"id": "b", "question": "q", "target": "x", "subject": "law"},
             {"id": "c", "question": "q", "target": "x", "category": "logic"},
             {"id": "d", "question": "q", "target": "x"},
             {"id": "e", "question": "q", "target": "x", "skill": "law", "subject": "ignored"}]
    report = Evaluator(TinyTask(), FakeBackend(["x", "y", "x", "x", "x"]), GenerationConfig()).run(
        items, "validation", tmp_path / "e.jsonl")
    assert report.by_skill == {"law": {"n": 3, "correct": 2, "accuracy": 0.6667},
                               "logic": {"n": 1, "correct": 1, "accuracy": 1.0}}
    assert report.by_phrasing == {}
    assert "held_out_phrasing" not in read_jsonl(tmp_path / "e.jsonl")[0]
    no_groups = Evaluator(TinyTask(), FakeBackend(["x"]), GenerationConfig()).run(
        [items[3]], "validation", tmp_path / "f.jsonl")
    assert no_groups.by_skill == {} and no_groups.accuracy == 1.0  # no invented "-" group


def test_kept_breakdown_counts_skills_and_categories():
    kept = [{"skill": "mul", "source_error": "e1"}, {"skill": "mul", "source_error": "e1"},
            {"skill": "div", "source_error": "e2"}, {"skill": "div", "source_error": "e3"},
            {"source_error": "e9"}, {"skill": "time", "source_error": "random"}]
    analyses = [{"error_id": "e1", "ok": True, "category": "Carry or  Borrow slip"},
                {"error_id": "e2", "ok": True, "category": "wrong operation"},
                {"error_id": "e3", "ok": False, "category": None}]
    assert kept_breakdown(kept, analyses, "lec") == (
        {"div": 2, "mul": 2, "time": 1},
        {"carry or borrow slip": 2, "none": 2, "random": 1, "wrong operation": 1})
    assert kept_breakdown(kept[:3], [], "mimic") == ({"div": 1, "mul": 2}, {"mimic": 3})
    assert kept_breakdown([], analyses, "le") == ({}, {})


class FakeContext(Context):
    """A run's Context on fixed items, whose evaluation answers from a fixed script."""

    def __init__(self, run_dir, task, items, script, strategy="lec"):
        cfg = load_config(None, [f"instruct.strategy={strategy}", "loop.max_iterations=1"])
        super().__init__(cfg=cfg, run_dir=run_dir, task=task, model_path="fake", clients={},
                         ui=UI(quiet=True))
        self._items, self.script = items, script

    def items(self, split):
        return self._items[split]

    def evaluate(self, split, adapter, out_path):
        items = self._items[split]
        replies = _replies(items, self.script[(split, adapter)])
        return Evaluator(self.task, FakeBackend(replies), GenerationConfig()).run(items, split, out_path)


def _loop_once(tmp_path, task):
    """baseline → curate → validate → decide → final_test on fake evaluations."""
    items = {"validation": [{**it, "held_out_phrasing": False}  # one item per skill, all seen
                            for it in task.load("validation")[:7]],
             "test": _with_phrasing(task.load("test")[:6])}
    adapter = str(tmp_path / "iter_001" / "adapter")
    script = {("validation", None): {0, 1}, ("test", None): {0, 1, 2},
              ("validation", adapter): {0, 1, 2, 3}, ("test", adapter): {0, 1, 2, 3, 4}}
    ctx = FakeContext(tmp_path, task, items, script)
    state = nodes.baseline({}, ctx=ctx)
    d = ctx.iter_dir(1)
    samples = task.sample(6, seed=11)
    for i, s in enumerate(samples):
        s["source_error"] = ("e1", "e2", "e3")[i % 3]
    write_jsonl(d / "generated.jsonl", samples)
    write_jsonl(d / "analyses.jsonl", [{"error_id": "e1", "ok": True, "category": "arithmetic slip"},
                                       {"error_id": "e2", "ok": True, "category": "wrong operation"}])
    state = {**state, "iter_dir": str(d), "current": {"iteration": 1}, "candidate_adapter": adapter}
    for node in (nodes.curate_samples, nodes.validate, nodes.decide, nodes.final_test):
        state = apply_update(state, node(state, ctx=ctx))
    return ctx, items, json.loads((tmp_path / "metrics.json").read_text())


def test_metrics_json_records_skill_phrasing_and_kept_breakdowns(tmp_path, task):
    ctx, items, metrics = _loop_once(tmp_path, task)
    skills = [it["skill"] for it in items["validation"]]
    base, round1 = metrics["history"]
    assert base["validation_by_skill"] == {s: (1.0 if i < 2 else 0.0) for i, s in enumerate(skills)}
    assert base["validation_n_by_skill"] == {s: 1 for s in skills}
    assert round1["validation"] == pytest.approx(4 / 7)
    assert round1["validation_by_skill"] == {s: (1.0 if i < 4 else 0.0) for i, s in enumerate(skills)}
    assert round1["validation_by_phrasing"] == {"seen": 0.5714}
    assert round1["validation_n_by_phrasing"] == {"seen": 7}
    kept = read_jsonl(tmp_path / "iter_001" / "kept.jsonl")
    assert len(kept) == round1["kept"] == 6
    assert round1["kept_by_skill"] == dict(sorted(Counter(s["skill"] for s in kept).items(),
                                                  key=lambda kv: (-kv[1], kv[0])))
    assert round1["kept_by_category"] == {"arithmetic slip": 2, "none": 2, "wrong operation": 2}

    test = metrics["test"]
    assert (test["baseline"], test["best"]) == (0.5, pytest.approx(5 / 6))
    # test items 0..5, held out: 0 and 3; base right {0, 1, 2}, best right {0, ..., 4}
    assert test["baseline_by_phrasing"] == {"seen": {"n": 4, "correct": 2, "accuracy": 0.5},
                                            "held_out": {"n": 2, "correct": 1, "accuracy": 0.5}}
    assert test["best_by_phrasing"] == {"seen": {"n": 4, "correct": 3, "accuracy": 0.75},
                                        "held_out": {"n": 2, "correct": 2, "accuracy": 1.0}}
    assert (test["baseline_heldout_phrasing"], test["best_heldout_phrasing"]) == (0.5, 1.0)
    test_skills = [it["skill"] for it in items["test"]]
    assert test["baseline_by_skill"] == {s: {"n": 1, "correct": int(i < 3), "accuracy": float(i < 3)}
                                         for i, s in enumerate(test_skills)}
    assert test["best_by_skill"][test_skills[4]] == {"n": 1, "correct": 1, "accuracy": 1.0}
    assert test["best_by_skill"][test_skills[5]] == {"n": 1, "correct": 0, "accuracy": 0.0}


def test_final_test_without_adapter_copies_the_baseline_breakdowns(tmp_path, task):
    items = {"validation": task.load("validation")[:3], "test": _with_phrasing(task.load("test")[:3])}
    ctx = FakeContext(tmp_path, task, items, {("validation", None): {0}, ("test", None): {1}})
    state = nodes.baseline({}, ctx=ctx)
    test = nodes.final_test(state, ctx=ctx)["test"]
    assert test["best_by_skill"] == test["baseline_by_skill"]
    assert test["best_by_phrasing"] == test["baseline_by_phrasing"] == {
        "seen": {"n": 2, "correct": 1, "accuracy": 0.5}, "held_out": {"n": 1, "correct": 0, "accuracy": 0.0}}
    assert test["best_heldout_phrasing"] == test["baseline_heldout_phrasing"] == 0.0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"] == test


def _add_skill_metrics(run):
    """The synthetic report run (tests/graph/test_report.py) with per-skill metrics."""
    metrics = json.loads((run / "metrics.json").read_text())
    per_round = {0: {"add_carry": 0.25, "mul": 0.5}, 1: {"add_carry": 0.75, "mul": 0.5},
                 2: {"add_carry": 0.5, "mul": 0.25}}
    for row in metrics["history"]:
        k = row["iteration"]
        if k in per_round:
            row["validation_by_skill"] = per_round[k]
            row["validation_n_by_skill"] = {"add_carry": 8, "mul": 8}
        if k >= 1:
            row["kept_by_skill"] = {"add_carry": 3, "mul": 1} if k == 1 else {"mul": 6} if k == 2 else {}
            row["kept_by_category"] = ({"carry or borrow slip": 4} if k == 1
                                       else {"wrong operation": 6} if k == 2 else {})
    metrics["test"].update(
        baseline_by_skill={"add_carry": {"n": 10, "correct": 2, "accuracy": 0.2},
                           "mul": {"n": 10, "correct": 4, "accuracy": 0.4}},
        best_by_skill={"add_carry": {"n": 10, "correct": 5, "accuracy": 0.5},
                       "mul": {"n": 10, "correct": 3, "accuracy": 0.3}},
        baseline_by_phrasing={"seen": {"n": 12, "correct": 4, "accuracy": 0.3333},
                              "held_out": {"n": 8, "correct": 2, "accuracy": 0.25}},
        best_by_phrasing={"seen": {"n": 12, "correct": 6, "accuracy": 0.5},
                          "held_out": {"n": 8, "correct": 2, "accuracy": 0.25}},
        baseline_heldout_phrasing=0.25, best_heldout_phrasing=0.25)
    write_json(run / "metrics.json", metrics)
    return run


def _text(page):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_report_shows_per_skill_plot_and_tables(tmp_path):
    run = _add_skill_metrics(make_run(tmp_path))
    page = write_report(run).read_text()
    skills = page[page.index('<section id="skills">'):]
    skills = skills[:skills.index("</section>")]
    text = _text(skills)
    # columns: validation n, base, round 1, round 2 (round 3 failed: no column), test n, base, best
    assert "add_carry 8 25.0% 75.0% 50.0% 10 20.0% 50.0% +30.0" in text
    assert "mul 8 50.0% 50.0% 25.0% 10 40.0% 30.0% -10.0" in text
    assert "seen phrasings 12 33.3% 50.0% +16.7" in text
    assert "held-out phrasings 8 25.0% 25.0% +0.0" in text
    if HAS_MPL:
        assert skills.count("<svg") == 1 and "add_carry (n=8)" in skills
        assert page.count("<svg") == 3
    kept = _text(page[page.index('<section id="kept-skills">'):])
    assert "add_carry 3 0 0 3" in kept and "mul 1 6 0 7" in kept
    assert "carry or borrow slip 4 0 0 4" in kept and "wrong operation 0 6 0 6" in kept
    assert "25.0% → 25.0%" in _text(page)  # the held-out phrasing card


def test_report_of_an_old_run_says_no_data_or_reads_the_files(tmp_path):
    run = make_run(tmp_path)  # no per-skill keys: the report falls back to the round files
    page = write_report(run).read_text()
    skills = _text(page[page.index('<section id="skills">'):page.index('<section id="categories">')])
    assert "no data: no per-skill validation scores" in skills
    assert "no data: no test item carries held_out_phrasing" in skills
    kept = _text(page[page.index('<section id="kept-skills">'):page.index('<section id="usage">')])
    # iter_001/kept.jsonl: 4 add_carry samples, 2 per error, both errors analysed as carry slips
    assert "add_carry 4 4" in kept and "carry or borrow slip 4 4" in kept
    write_jsonl(run / "iter_000" / "eval_validation.jsonl",
                [{"skill": "mul", "correct": c} for c in (True, False, False, False)])
    data = gather_skills(json.loads((run / "metrics.json").read_text()), run)
    assert data.validation == {0: {"mul": 0.25}} and data.validation_n == {"mul": 4}


def test_lai_show_prints_the_per_skill_table(tmp_path, capsys):
    _add_skill_metrics(make_run(tmp_path))
    assert main(["show", "synthetic", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "accuracy per skill" in out
    line = next(ln for ln in out.splitlines() if "add_carry" in ln)
    assert re.findall(r"\d\.\d{3}|→", line) == ["0.250", "0.750", "0.500", "0.200", "→", "0.500"]
    assert "test by phrasing: seen 0.333 → 0.500 (n=12), held-out 0.250 → 0.250 (n=8)" in out
