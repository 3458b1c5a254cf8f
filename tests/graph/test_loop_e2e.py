"""One real round of the loop on a tiny split: the embedded SmolLM2, the offline instructor,
real LoRA training in a child process, the SQLite checkpointer, through the CLI."""

import json
import sqlite3

import pytest

from lai.graph.cli import main

TINY = [
    "task.options.n_mining=24", "task.options.n_validation=8", "task.options.n_test=8",
    "generation.max_new_tokens=48", "generation.batch_size=8",
    "instruct.max_errors=4", "instruct.budget=12",
    "train.epochs=1", "train.min_steps=0", "train.batch_size=4", "train.max_length=192",
]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["lec"])
def test_one_round_end_to_end(tmp_path, strategy, capsys):
    rc = main(["run", "--strategy", strategy, "--max-iterations", "1", "--runs-dir", str(tmp_path),
               "--run-id", "tiny", "--quiet", *sum((["--set", s] for s in TINY), [])])
    assert rc == 0
    run = tmp_path / "tiny"
    for name in ("config.yaml", "state.sqlite", "metrics.json", "iter_000/eval_validation.jsonl",
                 "iter_000/eval_test.jsonl"):
        assert (run / name).exists(), name
    it = run / "iter_001"
    for name in ("eval_mining.jsonl", "mine_right.jsonl", "mine_wrong.jsonl", "selected.jsonl",
                 "analyses.jsonl", "generated.jsonl", "kept.jsonl", "rejected.jsonl",
                 "train.jsonl", "train_log.jsonl", "adapter/adapter_config.json",
                 "eval_validation.jsonl", "eval_validation.summary.json"):
        assert (it / name).exists(), name

    metrics = json.loads((run / "metrics.json").read_text())
    assert [r["iteration"] for r in metrics["history"]] == [0, 1]
    round1 = metrics["history"][1]
    assert round1["selected"] == min(4, round1["errors"])
    assert 0 < round1["kept"] <= 12 and round1["train_loss"] is not None
    assert_training_changed_the_adapter(it / "adapter")
    # decide's verdict and everything that follows from it, whichever way the round went
    kept = round1["kept_as_best"]
    assert round1["keep_reason"].startswith("kept: " if kept else "rolled back: ")
    gained = kept and round1["validation"] >= metrics["history"][0]["validation"] + 0.005
    assert metrics["stop_reason"] == ("reached max_iterations=1" if gained
                                      else "no gain of 0.005 in 1 round(s) (patience 1)")
    assert (metrics["best_iteration"], metrics["best_adapter"]) == ((1, str(it / "adapter")) if kept else (0, None))
    assert metrics["best_validation"] == (round1["validation"] if kept else metrics["history"][0]["validation"])
    assert {"baseline", "best", "baseline_by_skill", "best_by_skill"} <= set(metrics["test"])
    if not kept:  # the base model stayed best: its test score is the best one
        assert metrics["test"]["best"] == metrics["test"]["baseline"]

    selected = [json.loads(line) for line in (it / "selected.jsonl").open()]
    n_right = sum(1 for _ in (it / "mine_right.jsonl").open())
    # LEC, k=2: as many neighbours as there are right answers to draw from, up to k
    assert all(len(s["neighbours"]) == min(2, n_right) for s in selected)
    analyses = [json.loads(line) for line in (it / "analyses.jsonl").open()]
    assert all("offline rule-based" not in (a["reply"] or "") or a["ok"] for a in analyses)
    assert all(a["category"] for a in analyses if a["ok"])

    summary = json.loads((it / "eval_validation.summary.json").read_text())
    assert summary["generation"]["max_new_tokens"] == 48
    with sqlite3.connect(run / "state.sqlite") as db:  # checkpoints are keyed by the run id
        threads = {t for (t,) in db.execute("select distinct thread_id from checkpoints")}
    assert threads == {"tiny"}
    with sqlite3.connect(run / "trace.sqlite") as db:  # every node and every instructor call
        nodes = [n for (n,) in db.execute("select node from nodes where ended is not null order by id")]
        calls = dict(db.execute("select role, count(*) from llm_calls group by role"))
    assert nodes == ["baseline", "mine", "select", "instruct", "generate", "curate", "train",
                     "validate", "decide", "final_test"]
    assert calls["analyst"] == len(selected) and calls["generator"] >= sum(a["ok"] for a in analyses)
    assert metrics["usage"]["analyst"]["calls"] == len(selected)
    inspect_finished_run(tmp_path, run, selected, capsys)


def assert_training_changed_the_adapter(adapter):
    """LoRA starts with B = 0: a trained adapter has B weights away from zero."""
    from safetensors.torch import load_file

    weights = load_file(adapter / "adapter_model.safetensors")
    lora_b = [w for name, w in weights.items() if "lora_B" in name]
    assert lora_b and all(w.abs().max() > 0 for w in lora_b)


def inspect_finished_run(runs_dir, run, selected, capsys):
    """`lai runs / show / trace / export` on the run just made."""
    capsys.readouterr()
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "finished" in out and "arith" in out
    assert main(["show", "tiny", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    assert "stop reason" in out and "best adapter" in out and "analyst" in out
    assert main(["trace", "tiny", "--runs-dir", str(runs_dir), "--node", "instruct"]) == 0
    out = capsys.readouterr().out
    assert "LLM calls" in out and "analyse" in out
    assert main(["trace", "tiny", "--runs-dir", str(runs_dir), "--follow", selected[0]["id"]]) == 0
    out = capsys.readouterr().out
    assert selected[0]["item"]["question"][:30] in out and "analysis" in out and "samples it produced" in out
    assert main(["trace", "tiny", "--runs-dir", str(runs_dir), "--follow", "no-such-error"]) == 2
    metrics = json.loads((run / "metrics.json").read_text())
    rc = main(["export", "tiny", "--runs-dir", str(runs_dir), "--out", str(runs_dir / "export")])
    # both outcomes are also checked deterministically on the fake target (test_loop_fast.py)
    if metrics["best_adapter"]:
        assert rc == 0
        card = (runs_dir / "export" / "README.md").read_text()
        assert "smollm2-135m-instruct" in card and "lec" in card and "offline rule-based" in card
        assert (runs_dir / "export" / "adapter_model.safetensors").exists()
    else:
        assert rc == 2 and "no round beat the base model" in capsys.readouterr().out


@pytest.mark.slow
def test_budget_stops_the_loop_at_a_node_boundary(tmp_path):
    """A zero-hour budget: the baseline runs, the first round is abandoned, test still scored."""
    rc = main(["run", "--max-iterations", "3", "--runs-dir", str(tmp_path), "--run-id", "broke",
               "--quiet", "--set", "budget.max_hours=0.0000001", *sum((["--set", s] for s in TINY), [])])
    assert rc == 0
    metrics = json.loads((tmp_path / "broke" / "metrics.json").read_text())
    assert metrics["stop_reason"].startswith("wall clock") and "budget.max_hours" in metrics["stop_reason"]
    assert [r["iteration"] for r in metrics["history"]] == [0]
    assert metrics["test"]["best"] == metrics["test"]["baseline"]
    assert not (tmp_path / "broke" / "iter_001" / "analyses.jsonl").exists()

