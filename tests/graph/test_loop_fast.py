"""The real graph, nodes and agents on a fake target and a scripted instructor: whole rounds in
seconds, with `InMemorySaver`. Not marked slow: this is the loop test of `make test-fast`."""

import json

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from lai.graph import nodes
from lai.graph.build import build_graph, recursion_limit
from lai.graph.config import dump_config, load_config
from lai.graph.context import Context
from lai.graph.export import export_run
from lai.graph.ui import UI
from lai.tools.errors import LaiError
from lai.tools.jsonl import read_jsonl
from lai.tools.tasks import get_task
from lai.tools.trace import TraceStore
from tests.graph.fakes import FakeTarget, learned_skills, scripted_clients

WEAK = {"sub_borrow", "div"}
TINY = ["task.options.n_mining=28", "task.options.n_validation=14", "task.options.n_test=14",
        "instruct.strategy=le", "instruct.max_errors=4", "instruct.budget=8"]


def make_context(tmp_path, *overrides, trace=False, **target_options):
    cfg = load_config(None, [*TINY, *overrides])
    (tmp_path / "config.yaml").write_text(dump_config(cfg))  # as `lai run` writes it
    task = get_task(cfg.task.name, **cfg.task.options)
    store = TraceStore(tmp_path / "trace.sqlite") if trace else None
    return Context(cfg=cfg, run_dir=tmp_path, task=task, model_path="fake",
                   clients=scripted_clients(task, trace=store), ui=UI(quiet=True), trace=store,
                   target=FakeTarget(task, WEAK, **target_options))


def run_loop(ctx):
    graph = build_graph(ctx, InMemorySaver())
    config = {"configurable": {"thread_id": "t"},
              "recursion_limit": recursion_limit(ctx.cfg.loop.max_iterations)}
    return graph.invoke({}, config)


def test_one_round_learns_the_weak_skills_and_keeps_the_adapter(tmp_path):
    ctx = make_context(tmp_path, "loop.max_iterations=1", trace=True)
    final = run_loop(ctx)

    # baseline: 2 of 7 skills wrong on 14 validation items → 10/14; the adapter fixes them
    base, round1 = final["history"]
    assert (base["iteration"], base["validation"]) == (0, pytest.approx(10 / 14))
    assert round1["iteration"] == 1 and round1["validation"] == 1.0
    assert round1["errors"] == 8 and round1["selected"] == 4 and round1["analysed"] == 4
    kept = read_jsonl(tmp_path / "iter_001" / "kept.jsonl")
    assert len(kept) == round1["kept"] == 8  # capped at instruct.budget
    assert {s["skill"] for s in kept} <= WEAK and all(s["verified"] for s in kept)
    assert round1["train_samples"] == 8 and round1["replay"] == 0

    # decide kept it: the best adapter is round 1's, and the final test used it
    adapter = str(tmp_path / "iter_001" / "adapter")
    assert round1["kept_as_best"] is True and round1["keep_reason"].startswith("kept: +28.6 points")
    assert (final["best_iteration"], final["best_adapter"]) == (1, adapter)
    assert set(learned_skills(adapter)) == WEAK
    assert final["stop_reason"] == "reached max_iterations=1"
    assert final["test"]["baseline"] == pytest.approx(10 / 14) and final["test"]["best"] == 1.0
    # baseline (validation, test), mine, validate, final test: base model first, then the adapter
    assert ctx.target.backends == [None, None, None, adapter, adapter]

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["history"] == final["history"] and metrics["best_adapter"] == adapter
    nodes_run = [r["node"] for r in ctx.trace.query("select node from nodes where ended is not null order by id")]
    assert nodes_run == ["baseline", "mine", "select", "instruct", "generate", "curate", "train",
                         "validate", "decide", "final_test"]

    out = export_run(tmp_path, tmp_path / "export")  # the kept adapter, with its model card
    card = (out / "README.md").read_text()
    assert learned_skills(str(out)) == learned_skills(adapter)
    assert f"| 1 | 1.000 | 8 | {round1['generated']} | 8 | yes |" in card and "8 samples kept" in card


def test_a_worse_round_is_rolled_back_and_the_next_round_starts_from_the_best(tmp_path):
    # one error a round: round 1 learns one weak skill, round 2's adapter forgets it
    ctx = make_context(tmp_path, "loop.max_iterations=3", "loop.patience=2",
                       "instruct.max_errors=1", forget_rounds={2})
    final = run_loop(ctx)
    rows = {r["iteration"]: r for r in final["history"]}
    adapters = [str(tmp_path / f"iter_00{k}" / "adapter") for k in (1, 2, 3)]
    assert [rows[k]["validation"] for k in (0, 1, 2, 3)] == \
        [pytest.approx(10 / 14), pytest.approx(12 / 14), pytest.approx(10 / 14), 1.0]
    assert [rows[k]["kept_as_best"] for k in (1, 2, 3)] == [True, False, True]
    # round 3 mined and trained from round 1's adapter, not from the rolled-back round 2
    assert [job["init_adapter"] for job in ctx.target.jobs] == [None, adapters[0], adapters[0]]
    a1, a2, a3 = adapters  # baseline ×2; then per round: mine with the best, validate the new
    assert ctx.target.backends == [None, None, None, a1, a1, a2, a1, a3, a3]
    assert final["best_adapter"] == adapters[2] and set(learned_skills(adapters[2])) == WEAK
    assert final["stop_reason"] == "reached max_iterations=3" and final["test"]["best"] == 1.0


def test_a_failed_training_is_a_failed_round_not_a_crash(tmp_path):
    ctx = make_context(tmp_path, "loop.max_iterations=1", fail_rounds={1})
    final = run_loop(ctx)
    round1 = final["history"][1]
    assert round1["error"] == "training failed: fake: out of memory"
    assert round1["validation"] is None and round1["kept_as_best"] is False
    assert final["best_adapter"] is None and final["test"]["best"] == final["test"]["baseline"]
    with pytest.raises(LaiError, match="no round beat the base model"):
        export_run(tmp_path, tmp_path / "export")


# --------------------------------------------------------------------------- decide alone


def _decide(tmp_path, validation, *, best_score=0.5, stale=0, stop_reason=None, loop=()):
    """`decide` on round 2 of a run whose best so far is round 1, on hand-written evaluations."""
    ctx = make_context(tmp_path, "loop.max_iterations=5", "loop.keep_rule=greater", *loop)
    for k, right in ((1, round(best_score * 4)), (2, round((validation or 0) * 4))):
        rows = [{"id": f"v{i}", "correct": i < right} for i in range(4)]
        (ctx.iter_dir(k) / "eval_validation.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows))
    state = {"iteration": 2, "iter_dir": str(ctx.iter_dir(2)), "history": [{"iteration": 0}],
             "current": {"iteration": 2, "validation": validation, "started": 0.0},
             "best_iteration": 1, "best_adapter": "iter_001/adapter", "best_score": best_score,
             "stale": stale, "candidate_adapter": "iter_002/adapter", "stop_reason": stop_reason,
             "test": {}}
    return nodes.decide(state, ctx=ctx)


def test_decide_keeps_a_better_round(tmp_path):
    update = _decide(tmp_path, 0.75)
    assert (update["best_iteration"], update["best_adapter"], update["best_score"]) == \
        (2, "iter_002/adapter", 0.75)
    assert update["stale"] == 0 and update["stop_reason"] is None and update["iteration"] == 3
    assert update["history"][-1]["kept_as_best"] is True


@pytest.mark.parametrize("validation", [0.25, 0.5, None])  # worse, equal, failed round
def test_decide_rolls_back_a_round_that_is_not_better(tmp_path, validation):
    update = _decide(tmp_path, validation, loop=["loop.patience=3"])
    assert "best_adapter" not in update and "best_iteration" not in update  # the best stays
    assert update["stale"] == 1 and update["stop_reason"] is None
    row = update["history"][-1]
    assert row["kept_as_best"] is False and row["iteration"] == 2


def test_decide_stops_when_patience_runs_out(tmp_path):
    update = _decide(tmp_path, 0.25, stale=1, loop=["loop.patience=2"])
    assert update["stale"] == 2 and "patience" in update["stop_reason"]
    assert "best_adapter" not in update


def test_decide_abandons_a_round_a_spent_budget_cut_short(tmp_path):
    update = _decide(tmp_path, None, stop_reason="wall clock budget.max_hours=1 spent")
    assert set(update) == {"history", "iteration"}  # nothing kept, nothing counted as stale
    assert update["history"][-1]["error"] == "stopped: wall clock budget.max_hours=1 spent"
    assert update["history"][-1]["kept_as_best"] is False


# --------------------------------------------------------------------------- topology


def test_the_graph_is_exactly_the_loop():
    graph = build_graph(make_context_free())
    edges = {(e.source, e.target, e.conditional) for e in graph.get_graph().edges}
    chain = ["__start__", "baseline", "mine", "select", "instruct", "generate", "curate", "train",
             "validate", "decide"]
    assert edges == {*((a, b, False) for a, b in zip(chain, chain[1:])),
                     ("decide", "mine", True), ("decide", "final_test", True),
                     ("final_test", "__end__", False)}


def make_context_free():
    """Nodes are bound to a context but never called: any object does."""
    return object()
