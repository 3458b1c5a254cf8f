"""`lai report`: the HTML report of a run, from a small synthetic run folder shaped like a real
one (3 LEC rounds: kept, rolled back, failed training). Fast; the Chromium test renders the page
headless and takes a screenshot (skipped where Debian's `chromium` is not installed)."""

import json
import re
import shutil
import subprocess

import pytest

from lai.graph.config import dump_config, load_config
from lai.graph.cli import main
from lai.graph.report import load_run, write_report
from lai.tools.jsonl import write_json, write_jsonl
from lai.tools.trace import TraceStore

try:
    import matplotlib  # noqa: F401

    HAS_MPL = True
except ImportError:
    HAS_MPL = False

EVIL = "<script>alert('pwned')</script>"


def _item(i: int, a: int, b: int, skill: str = "add_carry", split: str = "mining") -> dict:
    return {"id": f"arith-{split}-{i}", "question": f"Ana has {a} apples and gets {b} more. How many?",
            "answer": f"{a} + {b} = {a + b}\n#### {a + b}", "target": str(a + b), "skill": skill,
            "phrasing": 0, "operands": [a, b]}


def make_run(root, strategy: str = "lec"):
    """A finished 3-round run: round 1 kept, round 2 rolled back, round 3 training failed."""
    run = root / "synthetic"
    (run / "iter_000").mkdir(parents=True)
    cfg = load_config(None, [f"instruct.strategy={strategy}",
                             "roles.prices={gpt-4o: {input: 2.5, output: 10}}",
                             "roles.analyst.model=openai:gpt-4o"])
    (run / "config.yaml").write_text(dump_config(cfg))
    usage = {"analyst": {"calls": 4, "cached": 1, "failed": 1, "retries": 2, "truncated": 0,
                         "input_tokens": 3120, "output_tokens": 410, "cost_usd": 0.0119},
             "generator": {"calls": 5, "cached": 0, "failed": 0, "retries": 0, "truncated": 1,
                           "input_tokens": 2050, "output_tokens": 1800, "cost_usd": 0.0}}
    write_json(run / "usage.json", {"started": 1.0, "roles": usage})
    history = [
        {"iteration": 0, "validation": 0.25, "kept_as_best": True, "minutes": 0.0},
        {"iteration": 1, "mining": 0.2, "errors": 20, "selected": 4, "analysed": 3,
         "analysis_failed": 1, "analysis_unparsed": 0, "requested": 16, "generated": 5,
         "repaired": 1, "generation_calls_failed": 0, "generation verification": 2,
         "generation unparsed": 1, "kept": 4,
         "rejected": {"kept": 4, "rejected": 1, "duplicate within this iteration": 1},
         "train_samples": 4, "replay": 0, "train_loss": 0.91, "validation": 0.375,
         "kept_as_best": True, "minutes": 3.1},
        {"iteration": 2, "mining": 0.3, "errors": 17, "selected": 4, "analysed": 4,
         "requested": 16, "generated": 6, "kept": 6,
         "rejected": {"kept": 6, "rejected": 0}, "train_samples": 8, "train_loss": 0.7,
         "validation": 0.3125, "kept_as_best": False, "minutes": 2.9},
        {"iteration": 3, "mining": 0.3, "errors": 17, "selected": 4, "analysed": 4,
         "requested": 16, "generated": 0, "kept": 0, "rejected": {"kept": 0, "rejected": 0},
         "train_samples": 0, "error": "no samples to train on", "validation": None,
         "kept_as_best": False, "minutes": 1.0},
    ]
    write_json(run / "metrics.json", {
        "run_id": "synthetic", "task": "arith", "strategy": strategy, "history": history,
        "best_iteration": 1, "best_adapter": str(run / "iter_001" / "adapter"),
        "best_validation": 0.375, "stop_reason": "2 rounds without a gain of 0.005",
        "test": {"baseline": 0.3, "best": 0.4}, "usage": usage, "wall_minutes": 7.5})

    d = run / "iter_001"
    errors = [_item(i, 19 + i, 309 + i) for i in range(4)]
    right = [_item(10 + i, 12 + i, 7) for i in range(2)]
    selected = [{"id": e["id"], "item": e, "response": f"{e['operands'][0]} + {e['operands'][1]} = 391 {EVIL}",
                 "extracted": "391",
                 "neighbours": [{"item": r, "response": f"#### {r['target']}", "similarity": 0.81 - j / 10}
                                for j, r in enumerate(right)] if strategy == "lec" else []}
                for e in errors]
    write_jsonl(d / "selected.jsonl", selected)
    cats = ["carry or borrow slip", "carry or borrow slip", f"misread {EVIL}"]
    analyses = [{"error_id": s["id"], "strategy": strategy, "item": s["item"], "response": s["response"],
                 "neighbour_ids": [n["item"]["id"] for n in s["neighbours"]], "prompt": "...",
                 "reply": f"Diagnosis: dropped the carry\nCategory: {c}", "call_error": None,
                 "truncated": False, "cached": False, "ok": True,
                 "diagnosis": f"Dropped the carry from the tens column {EVIL}", "category": c,
                 "skill": "add_carry"} for s, c in zip(selected, cats)]
    analyses.append({**analyses[0], "error_id": selected[3]["id"], "ok": False, "reply": None,
                     "call_error": "HTTP 500 after 2 retries", "diagnosis": None, "category": None})
    write_jsonl(d / "analyses.jsonl", analyses)
    gen = [{**_item(100 + j, 40 + j, 67), "id": f"{selected[j % 2]['id']}/a0g{j}",
            "source_error": selected[j % 2]["id"], "attempt": 0, "verified": True} for j in range(5)]
    gen[4]["question"] = EVIL + " a sample question"
    write_jsonl(d / "generated.jsonl", gen)
    write_jsonl(d / "kept.jsonl", gen[:4])
    write_jsonl(d / "rejected.jsonl", [{**gen[4], "reject_reason": "duplicate within this iteration"}])
    write_jsonl(d / "generation_rejects.jsonl", [
        {**_item(200, 5, 5), "id": f"{selected[0]['id']}/a0g9", "source_error": selected[0]["id"],
         "attempt": 0, "stage": "verification", "reason": "equation 5 + 5 = 11 is wrong"},
        {**_item(201, 6, 5), "id": f"{selected[1]['id']}/a0g9", "source_error": selected[1]["id"],
         "attempt": 0, "stage": "verification", "reason": "equation 6 + 5 = 12 is wrong"},
        {"source_error": selected[0]["id"], "attempt": 0, "stage": "unparsed",
         "reason": "no final answer", "text": "Question: what is 2+2? " + EVIL}])
    for k, categories in ((2, ["wrong operation"] * 3 + ["carry or borrow slip"]), (3, ["no final answer"] * 4)):
        rows = [{"error_id": f"arith-mining-{k}{i}", "ok": True, "category": c, "diagnosis": "x",
                 "skill": "mul", "item": _item(i, 1, 2)} for i, c in enumerate(categories)]
        write_jsonl(run / f"iter_{k:03d}" / "analyses.jsonl", rows)
        write_jsonl(run / f"iter_{k:03d}" / "selected.jsonl", [])
    trace = TraceStore(run / "trace.sqlite")
    for role, latency in (("analyst", 1.5), ("analyst", 2.5), ("generator", 4.0)):
        trace.llm_call(role=role, model="m", purpose="p", ref="r", messages=[], response="",
                       input_tokens=1, output_tokens=1, latency_s=latency, cost_usd=0.0,
                       cached=False, retries=0, error=None)
    trace.close()
    return run


def _text(html_text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html_text))


def test_report_has_every_section_and_no_external_reference(tmp_path):
    run = make_run(tmp_path)
    out = write_report(run)
    assert out == run / "report.html"
    page = out.read_text()
    text = _text(page)
    for needle in ("synthetic", "arith", "lec", "smollm2-135m-instruct", "openai:gpt-4o",
                   "offline rule-based instructor", "2 rounds without a gain", "30.0% → 40.0%",
                   "7.5", "kept as best", "rolled back", "failed (no samples to train on)",
                   "Accuracy per skill", "Kept samples per skill and error category"):
        assert needle in text, needle
    # samples per round, rejects by reason (generation stages from the file, curation reasons)
    assert "generation verification" in text and "generation unparsed" in text
    assert "duplicate within this iteration" in text and "equation 5 + 5 = 11 is wrong" in text
    # tokens and cost per role, totals, latency from trace.sqlite
    assert "3,120" in text and "$0.0119" in text and "5,170" in text and "2.00" in text
    # worked examples from the best round (1): analysis, neighbours, samples kept / rejected
    assert "Worked examples (round 1)" in text
    assert "Dropped the carry from the tens column" in text and "similarity" in text
    assert "kept" in text and "rejected: duplicate within this iteration" in text
    assert "rejected at generation (verification)" in text
    # self-contained: no script, no external resource
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "<link" not in page and "@import" not in page
    assert not re.search(r"url\((?!#)", page)  # only the SVGs' own clip paths
    if HAS_MPL:
        assert page.count("<svg") == 2
        assert len(page) < 300_000
    else:
        assert "plots need matplotlib" in page


def test_report_category_counts_and_rounds(tmp_path):
    data = load_run(make_run(tmp_path))
    assert data.rounds == [1, 2, 3]
    from lai.graph.report import category_counts, sample_counts

    counts = category_counts(data)
    assert counts[1]["carry or borrow slip"] == 2 and sum(counts[1].values()) == 3  # ok rows only
    assert counts[2]["wrong operation"] == 3
    c1 = sample_counts(data, 1)
    assert c1["generated"] == 5 and c1["kept"] == 4
    assert c1["reasons"] == {"generation verification": 2, "generation unparsed": 1,
                             "duplicate within this iteration": 1}


@pytest.mark.parametrize("remove", [
    ["metrics.json", "usage.json", "config.yaml", "trace.sqlite"],
    ["iter_001", "iter_002", "iter_003"],
    ["iter_001/analyses.jsonl", "iter_001/kept.jsonl", "iter_001/rejected.jsonl",
     "iter_001/generation_rejects.jsonl"],
    ["iter_001/generated.jsonl", "iter_001/selected.jsonl", "metrics.json"],
])
def test_report_survives_missing_files(tmp_path, remove):
    run = make_run(tmp_path)
    for name in remove:
        path = run / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    page = write_report(run, tmp_path / "out" / "r.html", examples=2).read_text()
    assert page.rstrip().endswith("</html>")
    assert "<script" not in page.lower()


def test_report_of_an_empty_or_broken_run(tmp_path):
    run = tmp_path / "early"
    run.mkdir()
    page = write_report(run).read_text()
    assert page.count("no data") >= 5  # every section says so
    (run / "metrics.json").write_text("{not json")
    (run / "iter_001").mkdir()
    (run / "iter_001" / "analyses.jsonl").write_text('{"ok": true}\nnot json\n')
    page = write_report(run).read_text()
    assert "Unreadable files" in page and "metrics.json" in page and "analyses.jsonl" in page


@pytest.mark.parametrize("strategy", ["random", "mimic"])
def test_report_of_runs_without_analyses(tmp_path, strategy):
    run = make_run(tmp_path, strategy=strategy)
    for k in (1, 2, 3):
        (run / f"iter_{k:03d}" / "analyses.jsonl").unlink()
    if strategy == "random":
        (run / "usage.json").unlink()
        metrics = json.loads((run / "metrics.json").read_text())
        metrics["usage"] = {}
        write_json(run / "metrics.json", metrics)
    text = _text(write_report(run).read_text())
    assert f"strategy {strategy} analyses no errors" in text
    if strategy == "random":
        assert "none (random control)" in text and "calls no instructor" in text
    assert "no analysis" in text  # the worked examples say so


def test_failed_analysis_is_shown_in_its_example(tmp_path):
    run = make_run(tmp_path)
    text = _text(write_report(run, examples=4).read_text())
    assert "failed: HTTP 500 after 2 retries" in text


def test_cli_main(tmp_path, capsys):
    run = make_run(tmp_path)
    assert main(["report", "synthetic", "--runs-dir", str(tmp_path), "--out", str(tmp_path / "x.html"),
                 "--examples", "1"]) == 0
    assert str(tmp_path / "x.html") in capsys.readouterr().out
    assert _text((tmp_path / "x.html").read_text()).count("Example ") == 1
    assert run.exists()


CHROMIUM = next((c for c in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
                 if shutil.which(c)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed "
                    "(Debian: apt-get install -y chromium)")
@pytest.mark.skipif(not HAS_MPL, reason="plots need matplotlib")
def test_report_renders_in_headless_chromium(tmp_path):
    run = make_run(tmp_path)
    out = write_report(run)
    base = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}", "--no-first-run"]
    dom = subprocess.run([*base, "--dump-dom", out.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert dom.count("<svg") == 2 and dom.count("<table") >= 4
    for section in ("summary", "accuracy", "skills", "categories", "samples", "kept-skills",
                    "usage", "examples"):
        assert f'id="{section}"' in dom
    assert "<script" not in dom.lower() and "&lt;script&gt;" in dom
    png = tmp_path / "report.png"
    subprocess.run([*base, f"--screenshot={png}", "--window-size=1280,2400", out.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert png.exists() and png.stat().st_size > 20_000
    Image = pytest.importorskip("PIL.Image")
    with Image.open(png) as im:
        assert im.size == (1280, 2400)
        colours = im.convert("RGB").resize((64, 120)).getcolors(maxcolors=64 * 120)
    assert len(colours) > 20  # text, plots and tables, not one blank colour
