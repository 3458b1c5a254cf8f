"""The loop's nodes. Each reads a few state keys, calls one agent or tool, writes its files in
the round's folder and returns only the keys it changed."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path
from typing import Literal

from lai.agents.allocation import allocate, allocation_record, skill_accuracy
from lai.agents.data_generator import DataGenerator
from lai.agents.evaluator import EvalReport, accuracies
from lai.agents.instructor import Instructor
from lai.graph.context import Context
from lai.graph.layout import RoundFiles
from lai.graph.state import LoopState, apply_update
from lai.graph.stopping import decide as stopping_rule
from lai.graph.stopping import paired_evidence
from lai.tools.curation import curate
from lai.tools.jsonl import read_jsonl, write_json, write_jsonl
from lai.tools.retrieval import nearest


def baseline(state: LoopState, *, ctx: Context) -> dict:
    """Score the untouched base model on validation and test: the bar to beat."""
    r = ctx.round(0)
    val = ctx.evaluate("validation", None, r.eval("validation"))
    test = ctx.evaluate("test", None, r.eval("test"))
    row = {"iteration": 0, "validation": val.accuracy, "kept_as_best": True, "minutes": 0.0,
           **({"validation_by_task": val.by_task} if val.by_task else {}),
           **_breakdown(val, "validation", compact=True)}
    ctx.ui.info(f"baseline: validation {val.accuracy:.3f}, test {test.accuracy:.3f}")
    return {"iteration": 1, "history": [row], "best_iteration": 0, "best_adapter": None,
            "best_score": val.accuracy, "stale": 0, "stop_reason": None,
            "test": {"baseline": test.accuracy,
                     **({"baseline_by_task": test.by_task} if test.by_task else {}),
                     **_breakdown(test, "baseline")}}


def mine(state: LoopState, *, ctx: Context) -> dict:
    """Run the best model so far on the mining split; keep its right and wrong answers."""
    k = state["iteration"]
    r = ctx.round(k)
    ctx.ui.info(f"[bold]round {k}[/] (from {'base model' if not state['best_adapter'] else 'round ' + str(state['best_iteration'])})")
    report = ctx.evaluate("mining", state["best_adapter"], r.eval("mining"))
    rows = read_jsonl(report.path)
    write_jsonl(r.mine_right, [row for row in rows if row["correct"]])
    write_jsonl(r.mine_wrong, [row for row in rows if not row["correct"]])
    current = {"iteration": k, "started": time.time(), "mining": report.accuracy,  # a new row
               "errors": report.n - report.n_correct}
    return {"iter_dir": str(r.dir), "current": current, "candidate_adapter": None}


def select(state: LoopState, *, ctx: Context) -> dict:
    """Pick this round's errors (seeded sample) and, for LEC, each one's k nearest right answers."""
    r, cfg = RoundFiles(state["iter_dir"]), ctx.cfg
    by_id = {it["id"]: it for it in ctx.items("mining")}
    wrong, right = read_jsonl(r.mine_wrong), read_jsonl(r.mine_right)
    rng = random.Random(cfg.run.seed * 1_000 + state["iteration"])
    chosen = rng.sample(wrong, min(cfg.instruct.max_errors, len(wrong)))
    neighbours = [[] for _ in chosen]
    if cfg.instruct.strategy == "lec" and chosen and right:
        idx, scores = nearest([e["question"] for e in chosen], [r["question"] for r in right],
                              cfg.instruct.k)
        neighbours = [[{"item": by_id[right[j]["id"]], "response": right[j]["response"],
                        "similarity": round(float(s), 4)} for j, s in zip(row_i, row_s)]
                      for row_i, row_s in zip(idx, scores)]
    selected = [{"id": e["id"], "item": by_id[e["id"]], "response": e["response"],
                 "extracted": e["extracted"], "neighbours": n} for e, n in zip(chosen, neighbours)]
    write_jsonl(r.selected, selected)
    return {"current": {"selected": len(selected)}}


def instruct(state: LoopState, *, ctx: Context) -> dict:
    """The analyst names each selected error (LE or LEC). Skipped by `mimic` and `random`."""
    r, cfg = RoundFiles(state["iter_dir"]), ctx.cfg
    if cfg.instruct.strategy not in ("le", "lec"):
        return {}
    selected = read_jsonl(r.selected)
    instructor = Instructor(ctx.clients["analyst"], ctx.task, cfg.instruct.strategy)
    with ctx.ui.bar("analyse errors", len(selected)) as advance:
        counts = instructor.analyse(selected, r.analyses, advance)
    return {"current": counts}


def generate(state: LoopState, *, ctx: Context) -> dict:
    """The generator writes new, checked samples for each analysis (`mimic`: for each error's
    question alone), as many for each as the allocation policy gives it; the controls sample
    the task instead (`random`: any skill; `skill_matched`: the selected errors' skills)."""
    r, cfg = RoundFiles(state["iter_dir"]), ctx.cfg
    budget, strategy = cfg.instruct.budget, cfg.instruct.strategy
    seed = cfg.run.seed * 1_000 + state["iteration"]
    if strategy in ("random", "skill_matched"):
        samples = control_samples(ctx, strategy, read_jsonl(r.selected), budget, seed)
        write_jsonl(r.generated, samples)
        return {"current": {"generated": len(samples)}}
    if strategy == "mimic":
        sources = read_jsonl(r.selected)
    else:
        sources = [a for a in read_jsonl(r.analyses) if a["ok"]]
    accuracy = skill_accuracy(_read_if_exists(r.eval("mining")))
    counts = allocate(sources, budget, cfg.instruct.allocation, accuracy)
    record = allocation_record(sources, counts, cfg.instruct.allocation, accuracy)
    write_json(r.allocation, record)
    generator = DataGenerator(ctx.clients["generator"], ctx.task, judge=ctx.clients.get("judge"),
                              max_repairs=cfg.instruct.max_repairs, mimic=strategy == "mimic")
    with ctx.ui.bar("generate samples", len(sources)) as advance:
        counts = generator.generate(sources, budget, r.generated, r.generator_calls,
                                    r.generation_rejects, advance, counts=counts)
    allocation = {"policy": record["policy"], "per_skill": record["per_skill"]}
    return {"current": {**counts, "allocation": allocation}}


def control_samples(ctx: Context, strategy: str, selected: list[dict], budget: int, seed: int) -> list[dict]:
    """The controls' samples, a quarter over budget like the generator's surplus: drawn at
    random from the task (`random`), or with the skill mix the proportional rule gives the
    selected errors, drawn at random within each skill (`skill_matched`)."""
    n = budget + budget // 4
    if strategy == "random":
        samples = ctx.task.sample(n, seed=seed)
    else:
        skills = Counter((e["item"].get("skill") for e in selected))
        total = sum(skills.values()) or 1
        samples = []
        for skill, count in sorted(skills.items(), key=lambda kv: str(kv[0])):
            samples += ctx.task.sample(round(n * count / total), seed=seed, skill=skill)
    for item in samples:
        item["source_error"] = strategy
    return samples


def curate_samples(state: LoopState, *, ctx: Context) -> dict:
    """Verify, dedup and decontaminate the new samples; cap them at the round's budget. Counts
    the kept ones per skill and per error category (from this round's analyses)."""
    from lai.graph.report_skills import kept_breakdown
    from lai.tools.dedup import item_text

    r, k = RoundFiles(state["iter_dir"]), state["iteration"]
    earlier = {f"{s['id']} (round {j})": s for j in range(1, k)
               for s in _read_if_exists(ctx.round(j).kept)}
    evaluation = {f"{split} {it['id']}": it for split in ("validation", "test")
                  for it in ctx.items(split)}
    seen = {ctx.task.signature(s) for s in earlier.values()}
    held_out = {ctx.task.signature(it) for it in evaluation.values()}
    kept, rejected, counts = curate(
        ctx.task, read_jsonl(r.generated), ctx.cfg.instruct.budget, seen, held_out,
        held_out_texts={i: item_text(it) for i, it in evaluation.items()},
        held_out_solutions={i: it.get("answer") or "" for i, it in evaluation.items()},
        seen_texts={i: item_text(s) for i, s in earlier.items()})
    write_jsonl(r.kept, kept)
    write_jsonl(r.rejected, rejected)
    ctx.ui.info(f"  kept {counts['kept']} samples, rejected {counts['rejected']}: "
                + ", ".join(f"{why} {n}" for why, n in counts.items() if why not in ("kept", "rejected")))
    by_skill, by_category = kept_breakdown(kept, _read_if_exists(r.analyses), ctx.cfg.instruct.strategy)
    return {"current": {"kept": counts["kept"], "rejected": counts,
                        "kept_by_skill": by_skill, "kept_by_category": by_category}}


def train(state: LoopState, *, ctx: Context) -> dict:
    """LoRA SFT on the kept samples plus replay, from the best adapter, in a child process.
    A failed training is recorded as this round's error, not a crash of the run."""
    from lai.training.jobs import TrainingFailed

    r, k, cfg = RoundFiles(state["iter_dir"]), state["iteration"], ctx.cfg
    kept = read_jsonl(r.kept)
    earlier = [s for j in range(1, k) for s in _read_if_exists(ctx.round(j).kept)]
    rng = random.Random(cfg.run.seed * 1_000 + k)
    replay = rng.sample(earlier, min(len(earlier), round(cfg.train.replay_fraction * len(kept))))
    rows = [{"prompt": ctx.task.prompt(s),
             "completion": [{"role": "assistant", "content": ctx.task.completion(s)}]}
            for s in kept + replay]
    counts = {"train_samples": len(rows), "replay": len(replay)}
    if not kept:
        return {"current": {**counts, "error": "no samples to train on"}}
    write_jsonl(r.train, rows)
    job = {"cfg": cfg.train.model_dump(mode="json"), "model_path": ctx.model_path,
           "train_path": str(r.train), "out_dir": str(r.adapter),
           "init_adapter": state["best_adapter"], "log_path": str(r.train_log),
           **(ctx.tracking.training_job(k) if ctx.tracking else {})}  # TRL's curves → MLflow
    with ctx.ui.bar("train LoRA", cfg.train.epochs) as advance:
        done = [0]

        def on_progress(rec: dict) -> None:
            if rec.get("done") and rec.get("steps"):
                advance(rec["steps"] - done[0], total=rec["steps"])
            elif "step" in rec and "max_steps" in rec:
                loss = f"loss {rec['loss']:.3f}" if rec.get("loss") is not None else None
                advance(rec["step"] - done[0], note=loss, total=rec["max_steps"])
                done[0] = rec["step"]

        try:
            summary = ctx.target.train(job, r.train_job, r.train_stdout, on_progress)
        except TrainingFailed as e:
            ctx.ui.info(f"[red]training failed[/] (round {k}): {e}")
            return {"current": {**counts, "error": f"training failed: {e}"}}
    return {"candidate_adapter": str(r.adapter),
            "current": {**counts, "train_loss": summary.get("train_loss")}}


def validate(state: LoopState, *, ctx: Context) -> dict:
    """Score this round's adapter on validation."""
    if not state.get("candidate_adapter"):
        return {"current": {"validation": None}}
    report = ctx.evaluate("validation", state["candidate_adapter"],
                          RoundFiles(state["iter_dir"]).eval("validation"))
    by_task = {"validation_by_task": report.by_task} if report.by_task else {}
    return {"current": {"validation": report.accuracy, **by_task,
                        **_breakdown(report, "validation", compact=True)}}


def decide(state: LoopState, *, ctx: Context) -> dict:
    """Keep or roll back this round's adapter and choose: another round, or stop."""
    cur, k = dict(state.get("current") or {}), state["iteration"]
    minutes = round((time.time() - cur.pop("started", time.time())) / 60, 2)
    if state.get("stop_reason"):  # a budget ran out mid-round: the round is abandoned
        rows = [{**cur, "kept_as_best": False, "minutes": minutes,
                 "error": f"stopped: {state['stop_reason']}"}] if cur.get("iteration") == k else []
        update = {"history": rows, "iteration": k + 1}
        ctx.ui.info(f"  round {k} abandoned: {state['stop_reason']}")
        write_metrics(ctx, apply_update(state, update))
        return update
    evidence = {}
    if cur.get("validation") is not None:  # a failed round has no eval_validation.jsonl
        evidence = paired_evidence(
            read_jsonl(RoundFiles(state["iter_dir"]).eval("validation")),
            read_jsonl(ctx.round(state["best_iteration"]).eval("validation")))
    verdict = stopping_rule(cur.get("validation"), state["best_score"], state["stale"], k,
                            ctx.cfg.loop, **evidence)
    row = {**cur, "kept_as_best": verdict.keep, "keep_reason": verdict.reason,
           "p_better": verdict.p_better, "minutes": minutes}
    update = {"history": [row], "stale": verdict.stale,
              "stop_reason": verdict.stop_reason or ctx.stop_reason(), "iteration": k + 1}
    if verdict.keep:
        update.update(best_iteration=k, best_adapter=state["candidate_adapter"],
                      best_score=cur["validation"])
    ctx.ui.info(f"  round {k}: validation {_fmt(cur.get('validation'))} ({verdict.reason})")
    write_metrics(ctx, apply_update(state, update))
    return update


def route(state: LoopState) -> Literal["mine", "final_test"]:
    """Another round, unless `decide` (or a spent budget) set a stop reason."""
    return "final_test" if state.get("stop_reason") else "mine"


def final_test(state: LoopState, *, ctx: Context) -> dict:
    """Score the best adapter once on the test split."""
    test = dict(state["test"])
    if state["best_adapter"]:
        report = ctx.evaluate("test", state["best_adapter"],
                              ctx.round(state["best_iteration"]).eval("test"))
        test["best"] = report.accuracy
        if report.by_task:
            test["best_by_task"] = report.by_task
        test.update(_breakdown(report, "best"))
    else:  # the base model stayed best: its scores, breakdowns included, are the best ones
        test["best"] = test["baseline"]
        test.update({"best_" + key.removeprefix("baseline_"): value
                     for key, value in state["test"].items() if key.startswith("baseline_")})
    write_metrics(ctx, {**state, "test": test})
    return {"test": test}


def write_metrics(ctx: Context, state: dict) -> None:
    write_json(ctx.layout.metrics, {
        "run_id": ctx.run_dir.name, "task": ctx.cfg.task.name,
        "strategy": ctx.cfg.instruct.strategy, "history": state["history"],
        "best_iteration": state["best_iteration"], "best_adapter": state["best_adapter"],
        "best_validation": state["best_score"], "stop_reason": state.get("stop_reason"),
        "test": state.get("test", {}),
        "usage": ctx.ledger.snapshot()["roles"] if ctx.ledger else {},
    })


def _breakdown(report: EvalReport, prefix: str, compact: bool = False) -> dict:
    """An evaluation's per-skill and per-phrasing scores as metrics.json keys.

    compact (history rows): `<prefix>_by_skill` {skill: accuracy} and `<prefix>_n_by_skill`
    {skill: n}, likewise `_by_phrasing` / `_n_by_phrasing`. Full (the test block):
    `<prefix>_by_skill` {skill: {n, correct, accuracy}}, `<prefix>_by_phrasing` likewise, and
    `<prefix>_heldout_phrasing`, the held-out phrasings' accuracy. Absent groups give no key."""
    out: dict = {}
    for name, groups in (("skill", report.by_skill), ("phrasing", report.by_phrasing)):
        if not groups:
            continue
        if compact:
            out[f"{prefix}_by_{name}"] = accuracies(groups)
            out[f"{prefix}_n_by_{name}"] = {g: v["n"] for g, v in groups.items()}
        else:
            out[f"{prefix}_by_{name}"] = groups
    if not compact and "held_out" in report.by_phrasing:
        out[f"{prefix}_heldout_phrasing"] = report.by_phrasing["held_out"]["accuracy"]
    return out


def _read_if_exists(path: Path) -> list[dict]:
    return read_jsonl(path) if path.exists() else []


def _fmt(x: float | None) -> str:
    return "failed" if x is None else f"{x:.3f}"
