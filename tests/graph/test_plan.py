"""The plan before spending (graph/plan.py) and this machine's rates (graph/rates.py), through
the real `lai` on the fake target: `--plan` writes nothing; a run saves its plan, and `lai
show` sets it beside what happened; its counts are exact where the run's course is known."""

import json

import pytest

from lai.graph.config import load_config
from lai.graph.plan import actual, make_plan, over_budget
from lai.graph.rates import DEFAULT_RATES, load_rates
from lai.tools.tasks import get_task
from tests.graph.fake_cli import TINY, run_args
from tests.graph.fake_cli import main as fake_lai

LLM = ["roles.default.model=openai:gpt-4o", "roles.default.base_url=http://127.0.0.1:9/v1",
       "roles.prices={gpt-4o: {input: 2.5, output: 10}}"]


def test_run_plan_prints_the_plan_and_starts_nothing(tmp_path, capsys):
    assert fake_lai([*run_args(tmp_path, "planned", *LLM, "budget.max_cost_usd=0.0001"), "--plan"]) == 0
    out = capsys.readouterr().out
    assert "plan" in out and "analyst" in out and "generator" in out and "total" in out
    assert "over budget" in out and "budget.max_cost_usd=0.0001" in out
    assert not (tmp_path / "planned").exists()


def test_llm_roles_get_tokens_and_cost_the_offline_instructor_none(tmp_path):
    cfg = load_config(None, [*TINY, f"run.cache_dir={tmp_path}", *LLM])
    task = get_task(cfg.task.name, **cfg.task.options)
    plan = make_plan(cfg, task)
    round1 = plan["rounds"][1]
    (i_a, o_a), (i_g, o_g) = plan["tokens_per_call"]["analyst"], plan["tokens_per_call"]["generator"]
    assert i_a > 100 and i_g > 100 and o_g > o_a > 0  # rendered prompts; several samples a reply
    assert round1["input_tokens"] == i_a + i_g and round1["output_tokens"] == o_a + o_g
    assert round1["cost_usd"] == pytest.approx(((i_a + i_g) * 2.5 + (o_a + o_g) * 10) / 1e6, abs=1e-4)
    assert plan["total"]["calls"] == {"analyst": 2, "generator": 2}
    assert plan["calls_max"] == {"analyst": 2, "generator": 6}  # max_repairs=2 for each generation
    offline = make_plan(load_config(None, [*TINY, f"run.cache_dir={tmp_path}"]), task)
    assert offline["total"]["input_tokens"] == 0 and offline["total"]["cost_usd"] == 0
    assert offline["rates"]["source"] == DEFAULT_RATES["source"]


def test_over_budget_names_each_budget_it_passes(tmp_path):
    cfg = load_config(None, [*TINY, f"run.cache_dir={tmp_path}", *LLM, "budget.max_tokens=10",
                             "budget.max_hours=0.001", "budget.max_cost_usd=100"])
    plan = make_plan(cfg, get_task(cfg.task.name, **cfg.task.options))
    said = over_budget(plan, cfg.budget)
    assert len(said) == 2 and "budget.max_tokens=10" in said[0] and "budget.max_hours=0.001" in said[1]


def test_a_run_saves_its_plan_its_counts_are_exact_and_it_measures_this_machine(tmp_path, capsys):
    assert fake_lai(run_args(tmp_path, "r", "tracking.enabled=false")) == 0
    run_dir = tmp_path / "r"
    plan = json.loads((run_dir / "plan.json").read_text())
    done = actual(run_dir)
    assert [r["round"] for r in done] == ["base", 1, 2, "final"] == [r["round"] for r in plan["rounds"]]
    for planned, happened in zip(plan["rounds"], done):
        assert planned["eval_items"] == happened["eval_items"]  # 28, 42, 42, 14
        assert planned["calls"] == happened["calls"]  # one error a round: 1 analyst + 1 generator
    assert done[1]["calls"] == {"analyst": 1, "generator": 1}

    capsys.readouterr()
    assert fake_lai(["show", str(run_dir)]) == 0
    assert "plan / actual" in capsys.readouterr().out

    cfg = load_config(run_dir / "config.yaml")
    rates = load_rates(cfg)  # measured by this run, for the next plan
    assert rates["source"].startswith(f"measured on this machine by run {run_dir}")
    for key in ("eval_base", "eval_adapted"):
        assert rates[key] != DEFAULT_RATES[key] and rates[key] > 0
    assert "offline:arith" in rates["calls"]
    saved = json.loads((tmp_path / "cache" / "rates.json").read_text())
    entry = next(v for k, v in saved.items() if k.startswith("smollm2-135m-instruct|"))
    assert "train" not in entry  # the fake trainer logs no steps: nothing to measure
