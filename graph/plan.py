"""The plan of a run before it spends anything (`lai run --plan`, and the start of every run).

Per round and in total: the items the target answers, the instructor calls of each role,
their estimated input and output tokens and cost (`roles.prices`), the training steps, and
the minutes at this machine's measured rates (`graph/rates.py`). Saved as `<run>/plan.json`;
`lai show` sets it beside what happened (`actual`).

A plan is an upper bound where the run's course is unknown before it starts: it assumes every
round finds at least `instruct.max_errors` errors, keeps `instruct.budget` samples and keeps
its adapter, and it counts no repair calls (`calls_max` adds the most `max_repairs` allows).
Tokens are estimated from the rendered prompts at about 4 characters a token; the offline
instructor uses no tokens and costs nothing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lai.agents.allocation import samples_per_error
from lai.agents.llm import OFFLINE, model_name
from lai.graph.rates import count_lines, query_trace, trained_steps, finished_nodes, load_rates
from lai.graph.runs import read_json

CHARS_PER_TOKEN = 4
ANALYSIS_TOKENS = 120
"""Estimated reply of the analyst: diagnosis, category, skill and details as JSON."""


def make_plan(cfg, task, rates: dict | None = None) -> dict[str, Any]:
    """The plan of a run of `cfg` on `task` (its splits loaded); see the module docstring."""
    from lai.graph.config import STRATEGY_ROLES
    from lai.training.sft import optimizer_steps

    rates = rates or load_rates(cfg)
    n = {s: len(task.load(s, cfg.task.limits.get(s))) for s in ("mining", "validation", "test")}
    errors = min(cfg.instruct.max_errors, n["mining"])
    used = STRATEGY_ROLES[cfg.instruct.strategy]
    calls = {role: errors for role in used}
    if used and cfg.roles.enabled("judge"):
        calls["judge"] = samples_per_error(cfg.instruct.budget, errors) * errors
    per_call = _tokens_per_call(cfg, task, calls, errors)
    new_tokens = cfg.generation.max_new_tokens
    batch = cfg.train.batch_size * cfg.train.grad_accum

    def evaluation(items: int, adapted: bool) -> float:
        return items * new_tokens * rates["eval_adapted" if adapted else "eval_base"]

    rows = [{"round": "base", "eval_items": n["validation"] + n["test"], "calls": {},
             "seconds": evaluation(n["validation"] + n["test"], False)}]
    kept_before = 0
    for k in range(1, cfg.loop.max_iterations + 1):
        replay = min(kept_before, round(cfg.train.replay_fraction * cfg.instruct.budget))
        steps = optimizer_steps(cfg.train, cfg.instruct.budget + replay)
        seconds = (evaluation(n["mining"], k > 1) + evaluation(n["validation"], True)
                   + steps * batch * rates["train"]
                   + sum(c * _call_rate(cfg, role, rates) for role, c in calls.items()))
        rows.append({"round": k, "eval_items": n["mining"] + n["validation"], "calls": dict(calls),
                     "train_steps": steps, "seconds": seconds})
        kept_before += cfg.instruct.budget
    rows.append({"round": "final", "eval_items": n["test"], "calls": {},
                 "seconds": evaluation(n["test"], True)})
    for row in rows:
        _price(cfg, row, per_call)
        row["minutes"] = round(row.pop("seconds") / 60, 1)
    repairs = cfg.instruct.max_repairs
    return {"rounds": rows, "total": _total(rows),
            "calls_max": {r: c * cfg.loop.max_iterations * (1 + repairs * (r == "generator"))
                          for r, c in calls.items()},
            "tokens_per_call": per_call, "rates": rates, "assumptions": (
                f"every round finds at least {cfg.instruct.max_errors} errors (at most "
                f"{n['mining']} mining items), keeps {cfg.instruct.budget} samples and its adapter; "
                f"no repair calls")}


def _call_rate(cfg, role: str, rates: dict) -> float:
    model = cfg.roles.resolve(role).model
    return rates["calls"].get(model, rates["llm_call"])


def _tokens_per_call(cfg, task, calls: dict[str, int], errors: int) -> dict[str, list[int]]:
    """Role → [input, output] tokens of one call, from prompts rendered on mining items."""
    from lai.agents.data_generator import generation_prompt, judge_prompt
    from lai.agents.instructor import error_prompt

    items = task.load("mining", cfg.task.limits.get("mining"))[:8]
    if not items or not calls:
        return {}
    n = samples_per_error(cfg.instruct.budget, errors)
    mimic = cfg.instruct.strategy == "mimic"
    sample = sum(len(it.get("question", "")) + len(it.get("answer") or "") for it in items) / len(items)
    out: dict[str, list[int]] = {}
    for role in calls:
        if cfg.roles.resolve(role).model == OFFLINE:
            out[role] = [0, 0]  # no LLM: nothing is counted
            continue
        texts, reply = [], 0.0
        for item in items:
            error = {"id": item["id"], "item": item, "response": item.get("answer") or "",
                     "neighbours": [{"item": o, "response": o.get("answer") or ""}
                                    for o in items[:cfg.instruct.k] if o is not item]}
            if role == "analyst":
                texts.append(error_prompt(task, error, cfg.instruct.strategy))
                reply = ANALYSIS_TOKENS * CHARS_PER_TOKEN
            elif role == "generator":
                source = {**error, "diagnosis": "x" * 120, "category": "calculation error",
                          "skill": item.get("skill") or "", "details": {}}
                texts.append(generation_prompt(task, source, n, mimic))
                reply = n * (sample + 30)
            else:
                texts.append(judge_prompt(task, item))
                reply = sample / 2
        out[role] = [math.ceil(sum(map(len, texts)) / len(texts) / CHARS_PER_TOKEN),
                     math.ceil(reply / CHARS_PER_TOKEN)]
    return out


def _price(cfg, row: dict, per_call: dict[str, list[int]]) -> None:
    tokens_in = tokens_out = cost = 0.0
    for role, count in row["calls"].items():
        i, o = per_call.get(role, [0, 0])
        price = cfg.roles.prices.get(model_name(cfg.roles.resolve(role)))
        tokens_in, tokens_out = tokens_in + count * i, tokens_out + count * o
        if price:
            cost += count * (i * price.input + o * price.output) / 1e6
    row.update(input_tokens=int(tokens_in), output_tokens=int(tokens_out), cost_usd=round(cost, 4))


def _total(rows: list[dict]) -> dict[str, Any]:
    calls: dict[str, int] = {}
    for row in rows:
        for role, c in row["calls"].items():
            calls[role] = calls.get(role, 0) + c
    total = {key: sum(r.get(key, 0) for r in rows)
             for key in ("eval_items", "input_tokens", "output_tokens", "train_steps")}
    return {"round": "total", **total, "calls": calls,
            "cost_usd": round(sum(r["cost_usd"] for r in rows), 4),
            "minutes": round(sum(r["minutes"] for r in rows), 1)}


def over_budget(plan: dict, budget) -> list[str]:
    """What the plan would spend beyond `budget.*`: the run stops there (said before it starts)."""
    total, out = plan["total"], []
    tokens = total["input_tokens"] + total["output_tokens"]
    if budget.max_tokens is not None and tokens > budget.max_tokens:
        out.append(f"~{tokens} instructor tokens > budget.max_tokens={budget.max_tokens}")
    if budget.max_cost_usd is not None and total["cost_usd"] > budget.max_cost_usd:
        out.append(f"~${total['cost_usd']:.2f} > budget.max_cost_usd={budget.max_cost_usd}")
    if budget.max_hours is not None and total["minutes"] / 60 > budget.max_hours:
        out.append(f"~{total['minutes'] / 60:.1f} h > budget.max_hours={budget.max_hours}")
    return out


def actual(run_dir: Path) -> list[dict[str, Any]]:
    """What a run did, in the plan's rows (rounds so far; the final test once it ran)."""
    nodes = finished_nodes(run_dir)
    metrics = read_json(run_dir / "metrics.json")
    rounds = sorted({k for (node, k) in nodes if node not in ("baseline", "final_test")})
    calls = query_trace(run_dir, "SELECT node, iteration, role, count(*), sum(input_tokens), "
                   "sum(output_tokens), sum(cost_usd) FROM llm_calls GROUP BY node, iteration, role")
    rows = []
    for label in (["base"] if ("baseline", 0) in nodes else []) + rounds + (
            ["final"] if any(node == "final_test" for node, _ in nodes) else []):
        if label == "base":
            seconds, items = nodes[("baseline", 0)], count_lines(run_dir / "iter_000" / "eval_validation.jsonl") \
                + count_lines(run_dir / "iter_000" / "eval_test.jsonl")
        elif label == "final":
            seconds = sum(s for (node, _), s in nodes.items() if node == "final_test")
            best = metrics.get("best_iteration") or 0
            items = count_lines(run_dir / f"iter_{best:03d}" / "eval_test.jsonl") if best else 0
        else:
            d = run_dir / f"iter_{label:03d}"
            seconds = sum(s for (node, k), s in nodes.items() if k == label and node != "final_test")
            items = count_lines(d / "eval_mining.jsonl") + count_lines(d / "eval_validation.jsonl")
        mine = [c for c in calls if c[1] == label and c[0] not in ("baseline", "final_test")]
        per_role: dict[str, int] = {}
        for c in mine:
            per_role[c[2]] = per_role.get(c[2], 0) + c[3]
        row = {"round": label, "eval_items": items, "calls": per_role,
               "input_tokens": sum(c[4] or 0 for c in mine), "output_tokens": sum(c[5] or 0 for c in mine),
               "cost_usd": round(sum(c[6] or 0 for c in mine), 4), "minutes": round(seconds / 60, 1)}
        if isinstance(label, int):
            row["train_steps"] = trained_steps(run_dir / f"iter_{label:03d}" / "train_log.jsonl")
        rows.append(row)
    return rows


def plan_table(plan: dict, done: list[dict] | None = None):
    """The plan as a table; with `done` (from `actual`), each cell reads `planned / actual`."""
    from rich.table import Table

    roles = list(plan["total"]["calls"])
    got = {row["round"]: row for row in (done or [])}
    if done is not None:
        got["total"] = _total(list(got.values())) if got else {}
    table = Table(title="plan" + (" / actual" if done is not None else ""),
                  caption="items: answered by the target; a role: its calls; tok: tokens; "
                          "steps: of training; min: minutes")
    for col in ("round", "items", *roles, "tok in", "tok out", "$", "steps", "min"):
        table.add_column(col, justify="right", min_width=len(col))
    for row in plan["rounds"] + [plan["total"]]:
        other = got.get(row["round"]) if done is not None else None

        def cell(key, role=None, fmt="{}"):
            value = row["calls"].get(role, 0) if role else row.get(key, 0)
            text = fmt.format(value)
            if done is None:
                return text
            if other is None:
                return f"{text} / -"
            mine = other.get("calls", {}).get(role, 0) if role else other.get(key, 0)
            return f"{text} / {fmt.format(mine)}"

        table.add_row(str(row["round"]), cell("eval_items"), *(cell(None, r) for r in roles),
                      cell("input_tokens"), cell("output_tokens"), cell("cost_usd", fmt="{:.2f}"),
                      cell("train_steps"), cell("minutes", fmt="{:.1f}"))
    return table


def plan_notes(plan: dict, budget) -> list[str]:
    """The lines under the plan's table: its assumptions, its rates, and budget excesses."""
    notes = [f"assumes {plan['assumptions']}"]
    if any(plan["calls_max"][r] > plan["total"]["calls"].get(r, 0) for r in plan["calls_max"]):
        notes.append("at most, with every repair: " + ", ".join(
            f"{r} {n} calls" for r, n in plan["calls_max"].items()))
    notes.append(f"minutes at rates {plan['rates']['source']}")
    notes += [f"[yellow]over budget:[/] {m}; the run stops when it is spent" for m in over_budget(plan, budget)]
    return notes
