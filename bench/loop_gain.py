"""Does error-targeted data beat random data where targeting has something to aim at?

Protocol (skewed start, paired, one round):
  per seed s (the task's data, the run's sampling and training all follow s):
    warm-up   LoRA on `--warmup` fresh samples of the strong skills only (add_carry, mul, money,
              time), curated like any round's data, from the base model: the strong skills rise, the weak ones (sub_borrow, div,
              two_step) stay low. Its training file is round 1's kept.jsonl, so every arm
              replays the same share of it (train.replay_fraction), as the loop does.
    shared    the warm-up adapter on test (the baseline, per item) and on mining (the errors
              every arm mines): computed once, copied into every arm.
    arms      round 2 of the loop from the warm-up adapter with the real graph nodes (select,
              instruct, generate, curate, train), then the test split: LE, LEC, uniform random,
              skill-matched random (the selected errors' skill mix, random within each skill),
              mimic, and LE with the `learnable` allocation (agents/allocation.py) instead of
              the paper's count rule. Budget, generator, solution format, curation, training,
              replay, starting adapter and test items are the same for every arm.
  report   per seed and arm: test accuracy overall, per skill, seen vs held-out phrasing;
           paired differences with a two-level (seeds x items) bootstrap 95% CI; the gain on
           the weak skills; the forgetting check on the strong ones.

One round, not three (a bench mode; the default loop runs three): the question is what one
round of each kind of data does from the same start. Finished steps are reused from
--runs-dir, so an interrupted bench continues.

    python bench/loop_gain.py                               # 5 seeds x 6 arms, 1024 test items
    python bench/loop_gain.py --jobs 5 --arm-jobs 2 ...     # on a GPU: seeds and arms side by side
    python bench/loop_gain.py --seeds 0 --test-items 128 --warmup 64 --set train.min_steps=8   # smoke
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ARMS = ("le", "random", "skill_matched", "lec", "mimic", "le_learnable")  # the key comparisons first
VARIANTS = {"le_learnable": ("le", ["instruct.allocation=learnable"])}
"""Arms that are a strategy with other settings: name -> (strategy, overrides)."""
STRONG = ("add_carry", "mul", "money", "time")
WEAK = ("sub_borrow", "div", "two_step")
PAIRS = (("le", "random"), ("le", "skill_matched"), ("lec", "random"), ("lec", "le"),
         ("mimic", "random"), ("le", "mimic"), ("le_learnable", "random"), ("le_learnable", "le"))
RESULTS = Path(__file__).parent / "results" / "loop_gain.json"


def config_for(args, seed: int, arm: str, run_dir: Path, extra: list[str] = ()):
    from lai.graph.config import load_config

    strategy, variant = VARIANTS.get(arm, (arm, []))
    return load_config(None, [
        f"instruct.strategy={strategy}", *variant, f"run.seed={seed}", f"run.runs_dir={run_dir.parent}",
        f"run.run_id={run_dir.name}", f"task.options.seed={seed}",
        f"task.options.n_test={args.test_items}", f"task.options.n_validation={args.validation_items}",
        f"instruct.budget={args.budget}", *args.overrides, *extra])


def make_context(cfg, run_dir: Path, quiet: bool = True):
    """The same Context `lai run` builds: task, role clients, ledger, trace, resolved target."""
    from lai.agents.ledger import Ledger
    from lai.graph.cli import make_clients
    from lai.graph.context import Context
    from lai.graph.ui import UI
    from lai.tools.tasks import get_task
    from lai.tools.trace import TraceStore
    from lai.training.target import resolve_model

    run_dir.mkdir(parents=True, exist_ok=True)
    ledger, trace = Ledger(run_dir / "usage.json", cfg.budget), TraceStore(run_dir / "trace.sqlite")
    return Context(cfg=cfg, run_dir=run_dir, task=get_task(cfg.task.name, **cfg.task.options),
                   model_path=str(resolve_model(cfg.target.model, cfg.run.cache_dir)),
                   clients=make_clients(cfg, ledger, trace), ui=UI(quiet=quiet), ledger=ledger, trace=trace)


def _done(path: Path) -> bool:
    return path.with_suffix(".summary.json").exists()


def warmup_samples(ctx, n: int, seed: int) -> list[dict]:
    """`n` samples of the strong skills, curated like any round's data (a third more are drawn,
    so what curation drops for contamination with validation and test is replaced)."""
    from lai.tools.curation import curate
    from lai.tools.dedup import item_text

    per_skill = -(-n * 4 // 3) // len(STRONG)
    from lai.tools.errors import LaiError

    try:
        drawn = [s for skill in STRONG for s in ctx.task.sample(per_skill, seed=10_000 + seed, skill=skill)]
    except LaiError as e:
        raise SystemExit(f"seed {seed}: {n} warm-up samples: {e} (try a smaller --warmup)") from None
    for s in drawn:
        s["source_error"] = f"warmup-{s['skill']}"  # curation's round-robin keeps the skills even
    held = {f"{split} {it['id']}": it for split in ("validation", "test") for it in ctx.items(split)}
    kept, _, counts = curate(ctx.task, drawn, n, held_out={ctx.task.signature(it) for it in held.values()},
                             held_out_texts={i: item_text(it) for i, it in held.items()},
                             held_out_solutions={i: it["answer"] for i, it in held.items()})
    if len(kept) < n:
        raise SystemExit(f"seed {seed}: only {len(kept)} of {n} warm-up samples survived curation: {counts}")
    return kept


def warm_up(args, seed: int, seed_dir: Path) -> dict:
    """Round 1 = the warm-up: strong skills only. Then the shared test and mining evaluations."""
    from lai.graph import nodes
    from lai.tools.jsonl import read_jsonl, write_jsonl

    run_dir = seed_dir / "warmup"
    ctx = make_context(config_for(args, seed, "random", run_dir, [f"train.epochs={args.warmup_epochs}"]), run_dir)
    d1 = ctx.iter_dir(1)
    adapter = d1 / "adapter"
    if not (adapter / "adapter_config.json").exists():
        write_jsonl(d1 / "kept.jsonl", warmup_samples(ctx, args.warmup, seed))
        state = {"iteration": 1, "iter_dir": str(d1), "best_adapter": None, "current": {}}
        update = nodes.train(state, ctx=ctx)
        if update["current"].get("error"):
            raise SystemExit(f"seed {seed}: warm-up {update['current']['error']}")
    if not _done(d1 / "eval_test.jsonl"):
        ctx.evaluate("test", str(adapter), d1 / "eval_test.jsonl")
    d2 = ctx.iter_dir(2)
    if not (d2 / "mine_wrong.jsonl").exists():
        nodes.mine({"iteration": 2, "best_adapter": str(adapter), "best_iteration": 1}, ctx=ctx)
    rows = read_jsonl(d2 / "eval_mining.jsonl")
    return {"adapter": str(adapter), "mining": sum(r["correct"] for r in rows) / len(rows),
            "errors": sum(not r["correct"] for r in rows)}


def run_arm(args, seed: int, seed_dir: Path, arm: str, shared: dict) -> None:
    """Round 2 from the warm-up with one arm's data, then the test split."""
    from lai.graph import nodes
    from lai.graph.state import apply_update

    run_dir = seed_dir / arm
    out = run_dir / "iter_002" / "eval_test.jsonl"
    if _done(out):
        return
    ctx = make_context(config_for(args, seed, arm, run_dir), run_dir)
    warm = seed_dir / "warmup"
    shutil.copy(warm / "iter_001" / "kept.jsonl", ctx.iter_dir(1) / "kept.jsonl")  # replayed
    d2 = ctx.iter_dir(2)
    for name in ("eval_mining.jsonl", "eval_mining.summary.json", "mine_right.jsonl", "mine_wrong.jsonl"):
        shutil.copy(warm / "iter_002" / name, d2 / name)
    state = {"iteration": 2, "iter_dir": str(d2), "best_adapter": shared["adapter"], "best_iteration": 1,
             "candidate_adapter": None,
             "current": {"iteration": 2, "started": time.time(), "mining": shared["mining"],
                         "errors": shared["errors"]}}
    for node in (nodes.select, nodes.instruct, nodes.generate, nodes.curate_samples, nodes.train):
        state = apply_update(state, node(state, ctx=ctx))  # nodes return only what they add
        if state["current"].get("error"):
            raise SystemExit(f"seed {seed} arm {arm}: {state['current']['error']}")
    (d2 / "round.json").write_text(json.dumps(state["current"], indent=1, default=str))
    ctx.evaluate("test", state["candidate_adapter"], out)


def hardware() -> str:
    import os

    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA)"
    return f"CPU, {os.cpu_count()} cores"


def run_seed(args, seed: int) -> None:
    seed_dir = args.runs_dir / f"s{seed}"
    seed_dir.mkdir(parents=True, exist_ok=True)
    (seed_dir / "hardware.txt").write_text(hardware())
    shared = warm_up(args, seed, seed_dir)
    if args.arm_jobs > 1 and len(args.arms) > 1:  # the shared warm-up is done: arms side by side
        codes = run_children(args, [(seed, [arm], seed_dir / f"{arm}.log") for arm in args.arms],
                             args.arm_jobs)
        failed = [arm for arm, code in zip(args.arms, codes) if code]
        if failed:
            raise SystemExit(f"seed {seed}: arms {failed} failed; see {seed_dir}/<arm>.log")
        return
    for arm in args.arms:
        print(f"seed {seed}: {arm}", flush=True)
        run_arm(args, seed, seed_dir, arm, shared)


def run_children(args, jobs: list[tuple[int, list[str], Path]], workers: int) -> list[int]:
    """Run `(seed, arms, log)` jobs as child processes of this script, `workers` at a time."""
    def child(job) -> int:
        seed, arms, log_path = job
        cmd = [sys.executable, __file__, "--only-run", "--seeds", str(seed), "--arms", *arms,
               "--test-items", str(args.test_items), "--validation-items", str(args.validation_items),
               "--warmup", str(args.warmup), "--warmup-epochs", str(args.warmup_epochs),
               "--budget", str(args.budget), "--runs-dir", str(args.runs_dir), "--arm-jobs", str(args.arm_jobs),
               *sum((["--set", o] for o in args.overrides), [])]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w") as log:
            return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(child, jobs))


# ---------------------------------------------------------------------- report


def _correct(path: Path, skills: tuple[str, ...] | None = None) -> tuple[list[str], list[bool]]:
    from lai.tools.jsonl import read_jsonl

    rows = [r for r in read_jsonl(path) if skills is None or r.get("skill") in skills]
    return [r["id"] for r in rows], [bool(r["correct"]) for r in rows]


def _acc(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def scores(args) -> dict:
    """Per seed: baseline and each arm's test accuracy, overall, per skill, by phrasing."""
    from lai.tools.jsonl import read_jsonl

    out = {}
    for seed in args.seeds:
        seed_dir = args.runs_dir / f"s{seed}"
        files = {"warmup": seed_dir / "warmup" / "iter_001" / "eval_test.jsonl",
                 **{arm: seed_dir / arm / "iter_002" / "eval_test.jsonl" for arm in args.arms}}
        out[seed] = {}
        for name, path in files.items():
            rows = read_jsonl(path)
            by_skill = {}
            for r in rows:
                by_skill.setdefault(r["skill"], []).append(r["correct"])
            entry = {"test": _acc([r["correct"] for r in rows]), "n": len(rows),
                     "by_skill": {k: round(_acc(v), 4) for k, v in sorted(by_skill.items())},
                     "weak": _acc([r["correct"] for r in rows if r["skill"] in WEAK]),
                     "strong": _acc([r["correct"] for r in rows if r["skill"] in STRONG]),
                     "heldout_phrasing": _acc([r["correct"] for r in rows if r.get("held_out_phrasing")])}
            if name != "warmup":
                rnd = json.loads((path.parent / "round.json").read_text())
                entry.update(kept=rnd.get("kept"), kept_by_skill=rnd.get("kept_by_skill"),
                             train_loss=rnd.get("train_loss"))
            out[seed][name] = entry
    return out


def paired(args, a: str, b: str, skills: tuple[str, ...] | None = None) -> dict:
    from lai.tools.stats import clustered_paired_bootstrap

    groups = []
    for seed in args.seeds:
        seed_dir = args.runs_dir / f"s{seed}"
        ids_a, xa = _correct(seed_dir / a / "iter_002" / "eval_test.jsonl", skills)
        ids_b, xb = _correct(seed_dir / b / "iter_002" / "eval_test.jsonl", skills)
        if ids_a != ids_b:
            raise SystemExit(f"seed {seed}: arms {a} and {b} were not scored on the same items")
        groups.append((xa, xb))
    r = clustered_paired_bootstrap(groups, seed=0)
    return {"mean": round(100 * r.mean, 2), "ci95": [round(100 * r.ci[0], 2), round(100 * r.ci[1], 2)],
            "p_greater": round(r.p_greater, 4)}


def report(args, minutes: float) -> dict:
    from rich.console import Console
    from rich.table import Table

    per_seed = scores(args)
    arms = [a for a in args.arms]
    table = Table(title=f"test accuracy after one round from the warm-up, % ({len(args.seeds)} seeds x "
                        f"{args.test_items} items)")
    for col in ("arm", *[f"seed {s}" for s in args.seeds], "mean", "weak skills", "strong skills",
                "held-out phrasing"):
        table.add_column(col, justify="right")
    mean = lambda xs: 100 * sum(xs) / len(xs)  # noqa: E731
    for arm in ["warmup", *arms]:
        rows = [per_seed[s][arm] for s in args.seeds]
        table.add_row(arm, *[f"{100 * r['test']:.1f}" for r in rows], f"{mean([r['test'] for r in rows]):.1f}",
                      f"{mean([r['weak'] for r in rows]):.1f}", f"{mean([r['strong'] for r in rows]):.1f}",
                      f"{mean([r['heldout_phrasing'] for r in rows]):.1f}")
    pairs = [(a, b) for a, b in PAIRS if a in arms and b in arms]
    diffs = {f"{a}-{b}": paired(args, a, b) for a, b in pairs}
    weak = {f"{a}-{b}": paired(args, a, b, WEAK) for a, b in pairs}
    strong = {f"{a}-{b}": paired(args, a, b, STRONG) for a, b in pairs}
    per_skill = {f"{a}-{b}": {sk: paired(args, a, b, (sk,)) for sk in (*WEAK, *STRONG)} for a, b in pairs}
    ptable = Table(title="paired differences, points (mean and 95% CI; seeds x items bootstrap)")
    for col in ("pair", "all skills", "weak skills", "strong skills (forgetting check)"):
        ptable.add_column(col, justify="right")
    fmt = lambda d: f"{d['mean']:+.1f} [{d['ci95'][0]:+.1f}, {d['ci95'][1]:+.1f}]"  # noqa: E731
    for key in diffs:
        ptable.add_row(key, fmt(diffs[key]), fmt(weak[key]), fmt(strong[key]))
    console = Console()
    console.print(table)
    console.print(ptable)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    return {"commit": commit, "command": " ".join(["python", *sys.argv]),
            "date": datetime.date.today().isoformat(), "seeds": list(args.seeds),
            "test_items": args.test_items, "arms": arms, "rounds": 1,
            "setup": {"warmup_samples": args.warmup, "warmup_epochs": args.warmup_epochs, "strong_skills": list(STRONG), "weak_skills": list(WEAK),
                      "budget": args.budget, "overrides": args.overrides},
            "minutes": round(minutes, 1),
            "hardware": sorted({(args.runs_dir / f"s{s}" / "hardware.txt").read_text()
                                for s in args.seeds if (args.runs_dir / f"s{s}" / "hardware.txt").exists()}),
            "per_seed": per_seed, "paired": diffs,
            "paired_weak_skills": weak, "paired_strong_skills": strong, "paired_per_skill": per_skill}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    ap.add_argument("--test-items", type=int, default=1024)
    ap.add_argument("--validation-items", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=1024,
                    help="warm-up samples (strong skills only; arith has room for about 1024)")
    ap.add_argument("--warmup-epochs", type=float, default=6, help="passes over the warm-up samples")
    ap.add_argument("--budget", type=int, default=1024, help="kept samples per arm (instruct.budget)")
    ap.add_argument("--jobs", type=int, default=1, help="seeds run side by side (a GPU has room)")
    ap.add_argument("--arm-jobs", type=int, default=1,
                    help="arms of a seed run side by side after its warm-up (a GPU has room)")
    ap.add_argument("--runs-dir", type=Path, default=Path("runs/bench-gain"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--only-run", action="store_true", help="run the seeds, write no report")
    ap.add_argument("--report-only", action="store_true",
                    help="report the seeds whose arms all finished in --runs-dir; run nothing")
    args = ap.parse_args()

    start = time.time()
    if args.report_only:
        done = [s for s in args.seeds if all(
            _done(args.runs_dir / f"s{s}" / arm / "iter_002" / "eval_test.jsonl") for arm in args.arms)]
        if not done:
            raise SystemExit(f"no seed has all of {args.arms} finished in {args.runs_dir}")
        args.seeds = done
        minutes = json.loads(args.out.read_text()).get("minutes", 0) if args.out.exists() else 0
        result = report(args, minutes)
    elif args.jobs > 1 and len(args.seeds) > 1:  # one child process per seed, `jobs` at a time
        jobs = [(seed, args.arms, args.runs_dir / f"s{seed}.log") for seed in args.seeds]
        codes = dict(zip(args.seeds, run_children(args, jobs, args.jobs)))
        failed = {s: c for s, c in codes.items() if c}
        if failed:  # report the seeds that finished, say which did not
            print(f"seeds failed: {failed}; see {args.runs_dir}/s<seed>.log", file=sys.stderr)
            args.seeds = [s for s in args.seeds if s not in failed]
            if not args.seeds:
                raise SystemExit(1)
    else:
        for seed in args.seeds:
            run_seed(args, seed)
    if args.only_run:
        return
    if not args.report_only:
        result = report(args, (time.time() - start) / 60)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
