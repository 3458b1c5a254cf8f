"""`lai`: run the instructor loop, resume it, and inspect what it did.

    lai run                                  # the embedded default: SmolLM2-135M on `arith`
    lai run config.yaml --strategy lec --max-iterations 2 --set instruct.budget=200
    lai resume RUN                           # continue a killed or interrupted run
    lai runs | lai show RUN | lai trace RUN --errors-only | lai report RUN | lai export RUN --out DIR
    lai run --plan                           # what a run will cost, before it starts
    lai show RUN --follow | lai ui RUN       # a live view; the MLflow UI (metrics, traces)

Errors in the config, the flags or the data end with one message naming the file and place
and exit code 2 (usage errors too); anything else with one line and exit code 1. `--debug`
prints the traceback as well.
"""

from __future__ import annotations

import argparse
import difflib
import resource
import shutil
import signal
import sqlite3
import sys
import time
import traceback
import warnings
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lai.graph.layout import RunLayout
from lai.tools.errors import LaiError, disk_full

console = Console()

ENVIRONMENT = """environment:
  LAI_RUNS_DIR   where `lai run` writes runs and `lai runs/show/trace/report/resume/export`
                 find them, from any folder (default: runs, under the current folder)
  LAI_CACHE_DIR  converted models and the LLM response cache (default: ~/.cache/lai)
  LAI_DATA_DIR   the benchmark data folder of the built-in benchmark tasks (no default)"""


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # argparse printed the usage error (code 2) or the help (0)
        return e.code if isinstance(e.code, int) else 0
    debug = getattr(args, "debug", False)
    try:
        return args.func(args)
    except LaiError as e:
        return _fail(str(e), 2, debug)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130
    except Exception as e:  # noqa: BLE001 - a bug or the environment: one line, traceback on --debug
        if full := disk_full(e):
            return _fail(f"the disk is full ({full}): free some space, then run the command again "
                         f"(a run continues where it stopped with `lai resume`)", 1, debug)
        return _fail(f"{type(e).__name__}: {e}\n(unexpected: rerun with --debug for the traceback)", 1, debug)


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    return code


class _Parser(argparse.ArgumentParser):
    """argparse without prefix abbreviations (`--max-iteration` is an error, not silently
    `--max-iterations`); an unknown option is reported by its own command, with the closest
    valid option."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        ns, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(ns, "command_parser", self)
            command.error("unrecognized arguments: " + " ".join(map(command.suggest, extras)))
        return ns

    def suggest(self, word: str) -> str:
        options = [o for action in self._actions for o in action.option_strings]
        close = difflib.get_close_matches(word.split("=")[0], options, n=1) if word.startswith("-") else []
        return f"{word} (did you mean {close[0]}?)" if close else word


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lai", description="LLMs-as-Instructors: improve a small model from its errors.",
                epilog=ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="print the traceback of an error too")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="print the traceback of an error too")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)  # every command takes --debug

    run = command("run", help="run the loop (evaluate → instruct → generate → train → repeat)")
    run.add_argument("config", nargs="?", help="YAML config (default: the embedded default)")
    run.add_argument("--strategy", choices=["le", "lec", "mimic", "random", "skill_matched"],
                     help="instruct.strategy")
    run.add_argument("--role", dest="roles", action="append", default=[], metavar="ROLE=MODEL",
                     help="a role's model, e.g. --role analyst=openai:gpt-4o (roles: default, "
                          "analyst, generator, judge; repeatable)")
    run.add_argument("--max-iterations", type=int, help="loop.max_iterations")
    run.add_argument("--task", help="task.name")
    run.add_argument("--model", help="target.model (HF id, local dir, or smollm2-135m-instruct)")
    run.add_argument("--run-id", help="run.run_id (folder name under run.runs_dir)")
    run.add_argument("--runs-dir", help="run.runs_dir (default: $LAI_RUNS_DIR or runs)")
    run.add_argument("--seed", type=int, help="run.seed")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="any config key, e.g. --set instruct.budget=200 (repeatable)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--plan", action="store_true",
                     help="print the plan (calls, tokens, cost, training steps, minutes) and stop")
    run.set_defaults(func=cmd_run)
    resume = command("resume", help="continue a run from its last checkpoint")
    resume.add_argument("run", help="run id (under --runs-dir) or run folder")
    resume.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    resume.add_argument("--quiet", action="store_true", help="no progress bars")
    resume.set_defaults(func=cmd_resume)
    runs = command("runs", help="list runs")
    runs.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    runs.set_defaults(func=cmd_runs)
    show = command("show", help="a run's per-round table, stop reason and best adapter")
    show.add_argument("run", help="run id (under --runs-dir) or run folder")
    show.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    show.add_argument("--follow", action="store_true",
                      help="a live view of a run going on (reads only the run folder)")
    show.set_defaults(func=cmd_show)
    ui = command("ui", help="open the MLflow UI on the runs' tracking store (metrics, traces)")
    ui.add_argument("run", nargs="?", help="a run whose page to print (default: the runs folder's store)")
    ui.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(func=cmd_ui)
    trace = command("trace", help="node executions and LLM calls of a run")
    trace.add_argument("run", help="run id (under --runs-dir) or run folder")
    trace.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    trace.add_argument("--iteration", type=int)
    trace.add_argument("--role", help="analyst, generator or judge")
    trace.add_argument("--node", help="e.g. instruct, generate, train")
    trace.add_argument("--errors-only", action="store_true", help="only failed nodes and calls")
    trace.add_argument("--follow", metavar="ERROR_ID",
                       help="one error: wrong answer → neighbours → analysis → its samples, kept or not")
    trace.add_argument("--full", action="store_true", help="print messages and replies in full")
    trace.set_defaults(func=cmd_trace)
    report = command("report", help="write a self-contained HTML report of a run")
    report.add_argument("run", help="run id (under --runs-dir) or run folder")
    report.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    report.add_argument("--out", help="HTML file (default: <run>/report.html)")
    report.add_argument("--examples", type=int, default=3, help="worked examples to show")
    report.set_defaults(func=cmd_report)
    export = command("export", help="write the best adapter (or merged model) with a model card")
    export.add_argument("run", help="run id (under --runs-dir) or run folder")
    export.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    export.add_argument("--out", required=True)
    export.add_argument("--merge", action="store_true", help="merge the adapter into the base model")
    export.set_defaults(func=cmd_export)
    ev = command("eval", help="score a model (base or with an adapter) on a task's split")
    ev.add_argument("config", nargs="?", help="YAML config for target/task/generation (optional)")
    ev.add_argument("--task", help="task.name")
    ev.add_argument("--model", help="target.model")
    ev.add_argument("--adapter", help="a LoRA adapter folder (e.g. a run's best adapter)")
    ev.add_argument("--split", default="test", choices=["mining", "validation", "test"])
    ev.add_argument("--limit", type=int, help="the first N items of the split")
    ev.add_argument("--out", default="evals", help="folder for <task>-<split>.jsonl and its summary")
    ev.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ev.add_argument("--quiet", action="store_true")
    ev.set_defaults(func=cmd_eval)
    tasks = command("tasks", help="list the registered tasks")
    tasks.set_defaults(func=lambda a: _print_tasks())
    for command in sub.choices.values():
        command.set_defaults(command_parser=command)
    return p


RUNS_DIR_HELP = "the folder holding the runs (default: $LAI_RUNS_DIR or runs)"


def _runs_dir(args: argparse.Namespace) -> Path:
    from lai.graph.config import default_runs_dir

    return Path(args.runs_dir) if args.runs_dir else default_runs_dir()


def _flag_overrides(args: argparse.Namespace) -> dict[str, str]:
    """Config overrides from `lai run`'s own flags → the flag each came from (for messages)."""
    from lai.agents.llm import ROLES

    flags = {"strategy": "instruct.strategy", "max_iterations": "loop.max_iterations",
             "task": "task.name", "model": "target.model", "run_id": "run.run_id",
             "runs_dir": "run.runs_dir", "seed": "run.seed"}
    out = {f"{key}={getattr(args, name)}": f"--{name.replace('_', '-')} {getattr(args, name)}"
           for name, key in flags.items() if getattr(args, name) is not None}
    for spec in getattr(args, "roles", []):
        role, sep, model = (part.strip() for part in spec.partition("="))
        if not sep or not model:
            raise LaiError(f"--role {spec!r}: expected ROLE=MODEL, e.g. analyst=openai:gpt-4o")
        if role not in ("default", *ROLES):
            close = difflib.get_close_matches(role, ("default", *ROLES), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise LaiError(f"--role {spec!r}: unknown role {role!r}: {hint}roles: default, "
                           f"{', '.join(ROLES)}")
        out[f"roles.{role}.model={model}"] = f"--role {spec}"
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from lai.graph.config import dump_config, load_config
    from lai.tools.jsonl import atomic_write_text, write_json

    started = time.time()
    flags = _flag_overrides(args)
    cfg = load_config(args.config, [*flags, *args.overrides], origins=flags)
    run_id = cfg.run.run_id or f"{cfg.task.name}-{cfg.instruct.strategy}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = cfg.run.runs_dir / run_id
    if RunLayout(run_dir).state.exists():
        raise LaiError(f"run {run_id!r} already exists in {cfg.run.runs_dir}; pick another --run-id "
                       f"or continue it with `lai resume {run_id} --runs-dir {cfg.run.runs_dir}`")
    task, llms = _preflight(cfg)  # before the run folder exists
    plan = _print_plan(cfg, task)
    if args.plan:
        return 0
    fresh = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(RunLayout(run_dir).config, dump_config(cfg))
        write_json(run_dir / "plan.json", plan)
        ctx = _open_run(cfg, run_dir, task, llms, quiet=args.quiet, resume=False)
    except BaseException:
        if fresh:  # nothing ran yet: leave no half-written run behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return _execute(ctx, resume=False, started=started)


def cmd_resume(args: argparse.Namespace) -> int:
    from lai.graph.config import load_config
    from lai.graph.plan import actual
    from lai.graph.runs import find_run, read_json, status_of

    started = time.time()
    run_dir = find_run(_runs_dir(args), args.run)
    if status_of(run_dir) == "running":
        raise LaiError(f"run {run_dir.name!r} is still running (pid in {run_dir / 'status.json'})")
    if status_of(run_dir) == "finished":
        console.print(f"run {run_dir.name} already finished; `lai show {_run_ref(run_dir)}` shows it")
        return 0
    cfg = load_config(RunLayout(run_dir).config)
    task, llms = _preflight(cfg)
    if (plan := read_json(run_dir / "plan.json")).get("rounds"):
        from lai.graph.plan import plan_table

        console.print(plan_table(plan, actual(run_dir)))
    ctx = _open_run(cfg, run_dir, task, llms, quiet=args.quiet, resume=True)
    return _execute(ctx, resume=True, started=started)


def _run_ref(run_dir: Path) -> str:
    """How to name a run on the command line from anywhere: its id and its parent folder."""
    return f"{run_dir.name} --runs-dir {run_dir.parent}"


def _preflight(cfg) -> tuple:
    """What can fail fast, checked before anything is written: the task, its data and splits
    (read and divided now; the task keeps them), and each role's chat model (provider, API key).

    Returns:
        The task, and role → chat model for `make_clients`.
    """
    from lai.agents.llm import make_llm
    from lai.graph.config import run_roles
    from lai.tools.tasks import get_task

    task = get_task(cfg.task.name, **cfg.task.options)
    if cfg.instruct.strategy in ("random", "skill_matched") and not task.can_sample:
        raise LaiError(f"instruct.strategy={cfg.instruct.strategy} needs a task that can draw fresh "
                       f"items; {task.name!r} cannot (use le, lec or mimic)")
    for split in ("mining", "validation", "test"):
        task.load(split, cfg.task.limits.get(split))
    _say_skipped(task)
    llms = {role: make_llm(cfg.roles.resolve(role), cfg.task.options) for role in run_roles(cfg)}
    return task, llms


def _say_skipped(task) -> None:
    """One warning per data file whose bad rows `on_bad_row: skip` left out (the rows are
    listed in the run's splits.json)."""
    def records(info: dict):
        yield from info.get("sources", [])
        for value in info.values():  # a mixed task: one split_info per task
            if isinstance(value, dict):
                yield from records(value)

    for record in records(task.split_info()):
        if record.get("bad_rows"):
            console.print(f"[yellow]skipped[/] {record['bad_rows']} bad row(s) of {escape(record['source'])} "
                          f"(on_bad_row: skip), first {escape(record['bad'][0])}", soft_wrap=True)


def _open_run(cfg, run_dir: Path, task, llms: dict, quiet: bool, resume: bool):
    """Everything a run needs before its first step: the record of its splits, the ledger,
    the trace, the role clients and the target model. Returns the run's `Context`."""
    from lai.agents.ledger import Ledger
    from lai.agents.llm import describe
    from lai.graph.context import Context
    from lai.graph.ui import UI
    from lai.tools.jsonl import write_json
    from lai.tools.trace import TraceStore
    from lai.training.target import resolve_model

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own bars say what is loading and why
    # Raised inside transformers/peft when an adapter loads; nothing a user can act on.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
    ui = UI(console, quiet=quiet, progress_path=run_dir / "progress.json")
    write_json(RunLayout(run_dir).splits, task.split_info())  # how the splits were made
    verb = "resuming" if resume else "run"
    ui.info(f"{verb} [bold]{run_dir}[/]: task {task.name}, strategy {cfg.instruct.strategy}, target {cfg.target.model}")
    ledger = Ledger(RunLayout(run_dir).usage, cfg.budget)
    trace = TraceStore(RunLayout(run_dir).trace)
    clients = make_clients(cfg, ledger, trace, llms)
    for role, client in clients.items():
        ui.info(f"  {role:<9} → {describe(client.spec)}")
    if not clients:
        ui.info("  control run: samples drawn at random from the task, no instructor")
    with console.status("preparing the target model (first use converts it once)"):
        model_path = resolve_model(cfg.target.model, cfg.run.cache_dir)
    tracking = _open_tracking(cfg, run_dir, ui)
    return Context(cfg=cfg, run_dir=run_dir, task=task, model_path=str(model_path), clients=clients,
                   ui=ui, ledger=ledger, trace=trace, tracking=tracking)


def _open_tracking(cfg, run_dir: Path, ui):
    """The run's MLflow run (None when `tracking.enabled` is false); says where to see it."""
    from lai.graph.tracking import Tracker

    with console.status("opening the MLflow tracking store"):
        tracker = Tracker.open(cfg, run_dir)
    if tracker:
        ui.info(f"  tracking  → MLflow run {tracker.run_id} in {tracker.uri} (`lai ui {_run_ref(run_dir)}`)")
    return tracker


def _print_plan(cfg, task) -> dict:
    """The plan before any work (graph/plan.py): printed, and returned for the run folder."""
    from lai.graph.plan import make_plan, plan_notes, plan_table

    plan = make_plan(cfg, task)
    console.print(plan_table(plan))
    for note in plan_notes(plan, cfg.budget):
        console.print(f"  {note}", soft_wrap=True)
    return plan


def _execute(ctx, resume: bool, started: float) -> int:
    """Run (or resume) the graph. Ctrl-C / SIGTERM abandon the current node: the checkpoint of
    the last finished node stays, and `lai resume` picks up from there."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from lai.graph.build import build_graph, recursion_limit
    from lai.graph.runs import read_json, write_status

    cfg, run_dir = ctx.cfg, ctx.run_dir
    resume_cmd = f"lai resume {_run_ref(run_dir)}"
    conn = sqlite3.connect(RunLayout(run_dir).state, check_same_thread=False)
    graph = build_graph(ctx, SqliteSaver(conn))
    config = {"configurable": {"thread_id": run_dir.name},
              "recursion_limit": recursion_limit(cfg.loop.max_iterations)}

    def stop(signum, frame) -> None:
        ctx.interrupted = signal.Signals(signum).name  # honoured at the next node if this raise is lost
        raise KeyboardInterrupt(ctx.interrupted)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    prior_s = read_json(RunLayout(run_dir).status).get("active_s", 0.0)
    write_status(run_dir, "running", resume=resume_cmd)
    try:
        # a run stopped before its first checkpoint (a full disk, a kill) starts over when resumed
        resume_from_checkpoint = resume and graph.checkpointer.get_tuple(config) is not None
        final = graph.invoke(None if resume_from_checkpoint else {}, config)
    except BaseException as e:
        # A stop request counts even when a library turned the KeyboardInterrupt into another error.
        if ctx.interrupted or isinstance(e, KeyboardInterrupt):
            reason = ctx.interrupted or str(e) or "SIGINT"
            write_status(run_dir, "interrupted", reason=reason, active_s=prior_s + time.time() - started)
            if ctx.tracking:
                ctx.tracking.finish(run_dir, "interrupted")
            console.print(f"[yellow]interrupted[/] ({reason}); the last finished step is "
                          f"checkpointed. Continue with:\n  {resume_cmd}")
            return 130
        try:
            write_status(run_dir, "failed", error=f"{type(e).__name__}: {e}",
                         active_s=prior_s + time.time() - started)
        except OSError:  # a full disk fails this write too; once this process ends it reads interrupted
            pass
        if ctx.tracking:
            ctx.tracking.finish(run_dir, "failed")
        console.print(f"[red]run failed[/]; the last finished step is checkpointed. Once the "
                      f"cause is fixed, continue with:\n  {resume_cmd}")
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        conn.close()
    active_s = prior_s + time.time() - started  # a resumed run counts its earlier sessions too
    _finish(run_dir, final, active_s)
    write_status(run_dir, "finished", stop_reason=final.get("stop_reason"), active_s=active_s)
    if ctx.tracking:
        with console.status("logging the report and the best adapter to MLflow"):
            ctx.tracking.finish(run_dir, "finished")
    from lai.graph.rates import save_rates

    save_rates(cfg, run_dir)  # this machine's speed, for the next run's plan
    return 0




def make_clients(cfg, ledger, trace, llms: dict | None = None) -> dict:
    """Role → `RoleClient` for the roles this run's strategy uses (none for the controls), around
    the chat models in `llms` (built here when not given)."""
    from lai.agents.llm import make_llm
    from lai.agents.llm_client import RoleClient
    from lai.graph.config import run_roles
    from lai.tools.llm_cache import ResponseCache

    roles = run_roles(cfg)
    cache_path = cfg.roles.cache_path or cfg.run.cache_dir / "llm_responses.sqlite"
    cache = ResponseCache(cache_path) if cfg.roles.cache and roles else None
    clients = {}
    for role in roles:
        spec = cfg.roles.resolve(role)
        llm = llms[role] if llms else make_llm(spec, cfg.task.options)
        clients[role] = RoleClient(role, spec, llm, cache=cache, ledger=ledger, trace=trace,
                                   prices=cfg.roles.prices)
    return clients


def _finish(run_dir: Path, state: dict, seconds: float) -> None:
    from lai.tools.jsonl import write_json

    peak_gib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 2**20
    console.print(results_table(state["history"]))
    test = state.get("test", {})
    console.print(f"stopped: {state.get('stop_reason')}")
    console.print(f"test accuracy: base {test.get('baseline', float('nan')):.3f} → "
                  f"best (round {state['best_iteration']}) {test.get('best', float('nan')):.3f}")
    console.print(f"best adapter: {state['best_adapter'] or '(none: the base model stayed best)'}")
    console.print(f"wall time {seconds / 60:.1f} min, peak memory {peak_gib:.2f} GiB; "
                  f"files in {run_dir}")
    metrics_path = RunLayout(run_dir).metrics
    import json

    metrics = json.loads(metrics_path.read_text())
    metrics.update(wall_minutes=round(seconds / 60, 2), peak_memory_gib=round(peak_gib, 2))
    write_json(metrics_path, metrics)


def results_table(history: list[dict]) -> Table:
    """Per-round table: validation accuracy, errors found, samples, train loss, minutes."""
    table = Table(title="llms-as-instructors")
    for col in ("round", "validation", "mining", "errors", "selected", "generated", "kept",
                "train loss", "minutes", "best"):
        table.add_column(col, justify="right")
    for row in history:
        def f(key, fmt="{}"):
            v = row.get(key)
            return "-" if v is None else fmt.format(v)
        note = row.get("error")
        table.add_row(
            "base" if row["iteration"] == 0 else str(row["iteration"]),
            f("validation", "{:.3f}") if not note else f"[red]{note[:30]}[/]",
            f("mining", "{:.3f}"), f("errors"), f("selected"), f("generated"), f("kept"),
            f("train_loss", "{:.3f}"), f("minutes", "{:.1f}"), "✓" if row.get("kept_as_best") else "",
        )
    return table


def cmd_eval(args: argparse.Namespace) -> int:
    """The evaluator agent alone: one split, greedy, graded the task's way."""
    from lai.graph.config import load_config
    from lai.graph.context import Context
    from lai.graph.ui import UI
    from lai.tools.tasks import get_task
    from lai.training.target import resolve_model

    flags = {f"task.name={args.task}": f"--task {args.task}"} if args.task else {}
    flags |= {f"target.model={args.model}": f"--model {args.model}"} if args.model else {}
    # no loop and no instructor here: the loop's checks (strategy, roles) do not apply
    cfg = load_config(args.config, [*flags, *args.overrides], origins=flags, evaluate_only=True)
    task = get_task(cfg.task.name, **cfg.task.options)
    items = task.load(args.split, args.limit)  # bad data fails here, before anything is written
    _say_skipped(task)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    with console.status("preparing the target model"):
        model_path = resolve_model(cfg.target.model, cfg.run.cache_dir)
    out = Path(args.out)
    ctx = Context(cfg=cfg, run_dir=out, task=task, model_path=str(model_path), clients={},
                  ui=UI(console, quiet=args.quiet))
    ctx._splits[args.split] = items
    report = ctx.evaluate(args.split, args.adapter, out / f"{task.name}-{args.split}.jsonl")
    console.print(f"{task.name} {args.split} ({report.n} items): accuracy {report.accuracy:.3f} "
                  f"({report.n_correct}/{report.n}), {report.seconds:.0f} s; rows in {report.path}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from lai.graph.runs import list_runs

    runs_dir = _runs_dir(args)
    rows = list_runs(runs_dir)
    if not rows:
        console.print(f"no runs in {runs_dir} (--runs-dir or $LAI_RUNS_DIR look elsewhere)")
        return 0
    table = Table(title=f"runs in {runs_dir}")
    for col in ("id", "task", "strategy", "status", "best val", "rounds", "started", "minutes"):
        table.add_column(col, justify="right" if col in ("best val", "rounds", "minutes") else "left")
    colour = {"finished": "green", "running": "cyan", "interrupted": "yellow", "failed": "red",
              "not started": "red"}
    for r in rows:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"])) if r["started"] else "-"
        table.add_row(r["id"], r["task"], r["strategy"],
                      f"[{colour.get(r['status'], 'white')}]{r['status']}[/]",
                      "-" if r["best_validation"] is None else f"{r['best_validation']:.3f}",
                      str(r["rounds"]), started, "-" if r["minutes"] is None else f"{r['minutes']:.1f}")
    console.print(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from lai.graph.report_skills import acc, gather_skills, n_of
    from lai.graph.runs import find_run, read_json, summary

    run_dir = find_run(_runs_dir(args), args.run)
    if args.follow:
        from lai.graph.follow import follow

        follow(console, run_dir)
        return 0
    info, metrics = summary(run_dir), read_json(RunLayout(run_dir).metrics)
    console.print(f"[bold]{info['id']}[/]: task {info['task']}, strategy {info['strategy']}, "
                  f"status {info['status']}")
    if metrics.get("history"):
        console.print(results_table(metrics["history"]))
    test = info["test"]
    console.print(f"stop reason: {info['stop_reason'] or '(not stopped yet)'}")
    if "best" in test:
        console.print(f"test accuracy: base {test['baseline']:.3f} → best {test['best']:.3f}")
    skills = gather_skills(metrics, run_dir)

    def pct(x):
        return "-" if x is None else f"{x:.3f}"

    if skills.skills:  # validation per round and test base → best, per skill
        rounds = sorted(skills.validation)
        table = Table(title="accuracy per skill")
        for col in ("skill", *[f"val {'base' if k == 0 else k}" for k in rounds],
                    "test base → best", "test n"):
            table.add_column(col, justify="left" if col == "skill" else "right")
        base, best = skills.test.get("baseline") or {}, skills.test.get("best") or {}
        for s in skills.skills:
            n = n_of(skills, "test", s)
            table.add_row(escape(s), *[pct(skills.validation[k].get(s)) for k in rounds],
                          f"{pct(acc(base, s))} → {pct(acc(best, s))}", "-" if n is None else str(n))
        console.print(table)
    if skills.phrasing:
        base, best = skills.phrasing.get("baseline") or {}, skills.phrasing.get("best") or {}
        console.print("test by phrasing: " + ", ".join(
            f"{label} {pct(acc(base, key))} → {pct(acc(best, key))} (n={n_of(skills, 'phrasing', key)})"
            for key, label in (("seen", "seen"), ("held_out", "held-out")) if key in base or key in best))
    console.print(f"best adapter: {info['best_adapter'] or '(none: the base model is best)'}")
    for role, u in (metrics.get("usage") or {}).items():
        console.print(f"  {role}: {u['calls']} calls ({u['cached']} cached, {u['failed']} failed), "
                      f"{u['input_tokens'] + u['output_tokens']} tokens, ${u['cost_usd']:.4f}")
    if (plan := read_json(run_dir / "plan.json")).get("rounds"):  # runs since the plan existed
        from lai.graph.plan import actual, plan_table

        console.print(plan_table(plan, actual(run_dir)))
    if info["status"] in ("interrupted", "failed"):
        console.print(f"continue with: lai resume {_run_ref(run_dir)}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """`mlflow server` on the runs folder's local store (or a run's), in the foreground."""
    import subprocess

    from lai.graph.runs import find_run, read_json
    from lai.graph.tracking import RUN_FILE, default_uri, run_page

    runs_dir = _runs_dir(args)
    info = read_json(find_run(runs_dir, args.run) / RUN_FILE) if args.run else {}
    if args.run and not info:
        raise LaiError(f"run {args.run!r} was not tracked (no {RUN_FILE}): it ran with "
                       f"tracking.enabled=false or before tracking existed")
    uri = info.get("tracking_uri") or default_uri(runs_dir)
    base = f"http://{args.host}:{args.port}"
    if uri.startswith(("http://", "https://")):  # a tracking server of its own: nothing to start
        console.print(f"this run is tracked by the MLflow server at {uri}: "
                      + (run_page(uri, info) if info else uri))
        return 0
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        raise LaiError(f"no MLflow store at {uri}: no tracked run in {runs_dir} yet")
    console.print(f"MLflow UI at {base}" + (f"; the run: {run_page(base, info)}" if info else "")
                  + " (Ctrl-C stops it)", soft_wrap=True)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
           "--host", args.host, "--port", str(args.port), "--workers", "1"]
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from lai.graph.runs import find_run
    from lai.graph.trace_view import follow_error, print_trace

    run_dir = find_run(_runs_dir(args), args.run)
    if args.follow:
        follow_error(console, run_dir, args.follow, iteration=args.iteration)
    else:
        print_trace(console, run_dir, iteration=args.iteration, role=args.role, node=args.node,
                    errors_only=args.errors_only, full=args.full)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from lai.graph.report import write_report
    from lai.graph.runs import find_run

    run_dir = find_run(_runs_dir(args), args.run)
    path = write_report(run_dir, Path(args.out) if args.out else None, args.examples)
    console.print(f"report written to {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from lai.graph.runs import find_run
    from lai.graph.export import export_run

    run_dir = find_run(_runs_dir(args), args.run)
    with console.status("exporting" + (" (merging into the base model)" if args.merge else "")):
        out = export_run(run_dir, Path(args.out), merge=args.merge)
    console.print(f"exported to {out} (model card: {out / 'README.md'})")
    return 0


def _print_tasks() -> int:
    from lai.tools.tasks import task_names

    for name in task_names():
        console.print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
