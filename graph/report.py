"""`lai report RUN`: one self-contained HTML page about a run.

Validation and test accuracy per round, accuracy per skill (validation per round, test base vs
best, seen vs held-out phrasings; `report_skills.py`), error categories per round, samples
generated / kept / rejected by reason, kept samples per skill and error category, instructor
tokens and cost per role, and a few worked examples (error → analysis → new samples).
Everything is read from the run's folder by `report_data.py` (`metrics.json`, `config.yaml`,
`usage.json`, `trace.sqlite`, `iter_<k>/*.jsonl`); any of them may be missing (a run that
stopped early, a `random` control run): the section then says "no data". This module renders.
The page has no external references: CSS inline, plots inline SVG (matplotlib), all text
escaped.

    lai report arith-lec-20250101-120000 [--runs-dir runs] [--out OUT.html] [--examples N]
"""

from __future__ import annotations

import html
import io
import time
from collections import Counter
from pathlib import Path
from typing import Any

from lai.graph.report_data import (
    ROLE_ORDER, RunData, category_counts, example_material, example_round, load_run, sample_counts,
)
from lai.tools.jsonl import atomic_write_text

USAGE_FIELDS = ("calls", "cached", "failed", "retries", "truncated", "input_tokens",
                "output_tokens", "cost_usd")
MAX_CATEGORIES = 8  # the rest are drawn as "other"
MAX_SAMPLES_SHOWN = 6  # per worked example
MAX_TEXT = 1500  # characters of one model output shown in an example


# ----------------------------------------------------------------------------- loading

# ----------------------------------------------------------------------------- helpers

def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _clip(text: Any, limit: int = MAX_TEXT) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit} more characters]"


def _pct(x: Any) -> str:
    return f"{x * 100:.1f}%" if isinstance(x, (int, float)) else "–"


def _num(x: Any) -> str:
    if x is None or x == "":
        return "–"
    if isinstance(x, float):
        return f"{x:,.4f}".rstrip("0").rstrip(".") if x != int(x) else f"{int(x):,}"
    if isinstance(x, int):
        return f"{x:,}"
    return _e(x)


def _no_data(why: str) -> str:
    return f'<p class="nodata">no data: {_e(why)}</p>'


def _table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    """`rows` hold HTML already escaped by the caller."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _label(text: str, limit: int = 40) -> str:
    """Safe for a matplotlib label: no mathtext (`$`), bounded length."""
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


# ----------------------------------------------------------------------------- plots

def _svg(fig) -> str:
    import matplotlib as mpl

    buf = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "lai-report"}):
        fig.savefig(buf, format="svg", bbox_inches="tight",
                    metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]  # drop the XML declaration and DOCTYPE


def _matplotlib_missing() -> str | None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "plots need matplotlib (pip install matplotlib)"
    return None


def accuracy_plot(data: RunData) -> str:
    history = [r for r in data.metrics.get("history") or [] if isinstance(r.get("iteration"), int)]
    if not history:
        return _no_data("metrics.json has no rounds yet")
    if missing := _matplotlib_missing():
        return _no_data(missing)
    from matplotlib.figure import Figure
    from matplotlib.ticker import MultipleLocator

    test = data.metrics.get("test") or {}
    best = data.metrics.get("best_iteration")
    fig = Figure(figsize=(9.5, 3.6))
    ax = fig.add_subplot()
    xs = [r["iteration"] for r in history]
    vals = [r.get("validation") for r in history]
    ax.plot([x for x, v in zip(xs, vals) if v is not None], [v for v in vals if v is not None],
            color="#888", lw=1.2, zorder=1)
    kept = [(x, v) for x, v, r in zip(xs, vals, history) if v is not None and r.get("kept_as_best")]
    rolled = [(x, v) for x, v, r in zip(xs, vals, history) if v is not None and not r.get("kept_as_best")]
    failed = [x for x, v in zip(xs, vals) if v is None]
    if kept:
        ax.scatter(*zip(*kept), s=60, color="#2a9d3a", zorder=3, label="validation: kept as best")
    if rolled:
        ax.scatter(*zip(*rolled), s=70, marker="X", color="#d62728", zorder=3,
                   label="validation: rolled back")
    points = [v for v in vals if v is not None]
    for key, marker, label in (("baseline", "s", "test: base model"), ("best", "*", "test: best adapter")):
        v = test.get(key)
        if isinstance(v, (int, float)):
            # beside the round's validation point, and beside each other when both are at 0
            x = 0.12 if key == "baseline" else (best if isinstance(best, int) else xs[-1]) + (
                0.24 if best == 0 else 0.12)
            ax.scatter([x], [v], s=150 if marker == "*" else 60, marker=marker, zorder=4,
                       color="#1f5fbf" if key == "best" else "#7aa6e6", label=f"{label} {v:.3f}")
            ax.axhline(v, color="#1f5fbf" if key == "best" else "#7aa6e6", lw=0.8, ls="--", zorder=0)
            points.append(v)
    lo, hi = (min(points), max(points)) if points else (0.0, 1.0)
    lo, hi = max(0.0, lo - 0.05), min(1.0, hi + 0.05)
    if hi - lo < 0.2:
        mid = (hi + lo) / 2
        lo, hi = max(0.0, mid - 0.1), min(1.0, max(mid + 0.1, 0.2))
    for x in failed:
        ax.scatter([x], [lo], marker="v", s=60, color="#999", zorder=3)
        ax.annotate("failed", (x, lo), textcoords="offset points", xytext=(0, 6), ha="center",
                    fontsize=8, color="#666")
    ax.set_ylim(lo - 0.03 * (hi - lo), hi + 0.03 * (hi - lo))
    step = 0.05 if hi - lo <= 0.3 else 0.1 if hi - lo <= 0.6 else 0.2
    ax.yaxis.set_major_locator(MultipleLocator(step))
    ax.set_xticks(xs, ["base" if x == 0 else str(x) for x in xs])
    ax.set_xlabel("round")
    ax.set_ylabel("accuracy")
    ax.yaxis.set_major_formatter(lambda y, _: f"{y * 100:.0f}%")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    return _svg(fig)


def category_plot(data: RunData, counts: dict[int, Counter | None]) -> str:
    if not any(c for c in counts.values()):
        strategy = data.metrics.get("strategy") or data.config.get("instruct", {}).get("strategy")
        why = (f"strategy {strategy} analyses no errors" if strategy in ("mimic", "random", "skill_matched")
               else "no round has analyses.jsonl with a readable analysis")
        return _no_data(why)
    if missing := _matplotlib_missing():
        return _no_data(missing)
    from matplotlib.figure import Figure

    total = Counter()
    for c in counts.values():
        total.update(c or {})
    top = [cat for cat, _ in total.most_common(MAX_CATEGORIES)]
    cats = top + (["other"] if len(total) > len(top) else [])
    rounds = list(counts)
    fig = Figure(figsize=(9.5, 3.4))
    ax = fig.add_subplot()
    bottom = [0] * len(rounds)
    palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
               "#ff9da7", "#bab0ac"]
    for i, cat in enumerate(cats):
        heights = [((c or Counter())[cat] if cat != "other"
                    else sum(n for k2, n in (c or Counter()).items() if k2 not in top))
                   for c in counts.values()]
        ax.bar(range(len(rounds)), heights, bottom=bottom, color=palette[i % len(palette)],
               label=_label(cat), width=0.6)
        bottom = [b + h for b, h in zip(bottom, heights)]
    for i, c in enumerate(counts.values()):
        if c is None:
            ax.text(i, 0.03, "no analyses", ha="center", va="bottom", fontsize=8, color="#666",
                    transform=ax.get_xaxis_transform())
    ax.set_xticks(range(len(rounds)), [str(k) for k in rounds])
    ax.set_xlabel("round")
    ax.set_ylabel("errors analysed")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    return _svg(fig)


# ----------------------------------------------------------------------------- tables

def rounds_table(data: RunData) -> str:
    history = data.metrics.get("history") or []
    if not history:
        return _no_data("metrics.json has no rounds yet")
    rows = []
    for r in history:
        k = r.get("iteration")
        verdict = ("base" if k == 0 else "kept as best" if r.get("kept_as_best")
                   else "failed" if r.get("validation") is None else "rolled back")
        if r.get("error"):
            verdict += f" ({r['error']})"
        rows.append([_e("base" if k == 0 else k), _pct(r.get("validation")), _pct(r.get("mining")),
                     _num(r.get("errors")), _num(r.get("selected")), _num(r.get("analysed")),
                     _num(r.get("train_samples")), _num(r.get("train_loss")),
                     _num(r.get("minutes")), _e(verdict)])
    return _table(["round", "validation", "mining", "errors", "selected", "analysed",
                   "train rows", "train loss", "minutes", "verdict"], rows, "num rounds")


def samples_table(data: RunData) -> str:
    per_round = {k: c for k in data.rounds if (c := sample_counts(data, k)) is not None}
    if not per_round:
        return _no_data("no round generated samples")
    reasons = sorted({r for c in per_round.values() for r in c["reasons"]},
                     key=lambda r: (not r.startswith("generation"), r))
    rows = [[_e(k), _num(c["requested"]), _num(c["generated"]), _num(c["repaired"]),
             f'<b>{_num(c["kept"])}</b>', _num(sum(c["reasons"].values()))]
            + [_num(c["reasons"].get(r, 0)) for r in reasons]
            for k, c in per_round.items()]
    table = _table(["round", "requested", "generated (verified)", "repaired", "kept",
                    "rejected", *[f"— {r}" for r in reasons]], rows, "num")
    detail = Counter()
    for c in per_round.values():
        detail.update(c["detail"])
    if detail:
        rows = [[_num(n), _e(_clip(reason, 300))] for reason, n in detail.most_common(10)]
        table += ('<p class="caption">Most frequent reject reasons, all rounds '
                  '(<code>generation_rejects.jsonl</code>, <code>rejected.jsonl</code>):</p>'
                  + _table(["count", "reason"], rows, "reasons"))
    return table


def usage_table(data: RunData) -> str:
    if not data.usage:
        why = ("the random control calls no instructor" if not data.roles and data.config
               else "no usage.json and no usage in metrics.json")
        return _no_data(why)
    roles = sorted(data.usage, key=lambda r: (ROLE_ORDER.index(r) if r in ROLE_ORDER else 9, r))
    rows, totals = [], Counter()
    for role in roles:
        u = data.usage[role]
        totals.update({f: u.get(f, 0) or 0 for f in USAGE_FIELDS})
        lat = data.latency.get(role)
        rows.append([_e(role), _e(data.roles.get(role, "")), *[_num(u.get(f)) for f in USAGE_FIELDS[:-1]],
                     _num(u.get("input_tokens", 0) + u.get("output_tokens", 0)),
                     f"${u.get('cost_usd', 0):.4f}", "–" if lat is None else f"{lat:.2f}"])
    rows.append(["<b>total</b>", "", *[f"<b>{_num(totals[f])}</b>" for f in USAGE_FIELDS[:-1]],
                 f"<b>{_num(totals['input_tokens'] + totals['output_tokens'])}</b>",
                 f"<b>${totals['cost_usd']:.4f}</b>", ""])
    return _table(["role", "model", "calls", "cached", "failed", "retries", "truncated",
                   "input tokens", "output tokens", "tokens", "cost", "mean latency s"], rows, "num usage")


# ----------------------------------------------------------------------------- examples

def worked_examples(data: RunData, n: int) -> tuple[int | None, str]:
    k = example_round(data)
    if k is None or n <= 0:
        return k, _no_data("no round selected errors (selected.jsonl)")
    selected, analyses, by_source = example_material(data, k)
    if not selected:
        return k, _no_data(f"round {k} selected no errors")
    # errors with an analysis and samples first: they tell the whole story
    order = sorted(selected, key=lambda e: (not (analyses.get(e.get("id")) or {}).get("ok"),
                                            not by_source.get(e.get("id"))))
    cards = [_example_card(i + 1, e, analyses.get(e.get("id")), by_source.get(e.get("id"), []))
             for i, e in enumerate(order[:n])]
    return k, "\n".join(cards)


def _pre(text: Any) -> str:
    return f"<pre>{_e(_clip(text))}</pre>"


def _example_card(i: int, error: dict, analysis: dict | None, samples: list) -> str:
    item = error.get("item") or {}
    parts = [f'<div class="example"><h3>Example {i}: <code>{_e(error.get("id"))}</code>'
             + (f' <span class="tag">{_e(item.get("skill"))}</span>' if item.get("skill") else "")
             + "</h3>",
             '<div class="grid">',
             f'<div><h4>Question</h4>{_pre(item.get("question"))}</div>',
             f'<div><h4>Gold answer <span class="tag ok">{_e(item.get("target"))}</span></h4>'
             f'{_pre(item.get("answer"))}</div>',
             f'<div class="wide"><h4>Target\'s wrong answer <span class="tag bad">extracted: '
             f'{_e(error.get("extracted"))}</span></h4>{_pre(error.get("response"))}</div>',
             "</div>"]
    neighbours = error.get("neighbours") or []
    if neighbours:
        rows = [[_e(f"{n.get('similarity', 0):.3f}" if isinstance(n.get("similarity"), (int, float)) else ""),
                 _e(_clip((n.get("item") or {}).get("question"), 400)),
                 _e(_clip(n.get("response"), 400))] for n in neighbours]
        parts.append("<h4>LEC neighbours (answered correctly)</h4>"
                     + _table(["similarity", "question", "target's answer"], rows, "examples"))
    if analysis is None:
        parts.append('<h4>Analysis</h4><p class="nodata">no analysis (the strategy analyses no '
                     "errors, or the run stopped before it)</p>")
    elif analysis.get("ok"):
        parts.append("<h4>Analysis</h4><dl class=\"analysis\">"
                     f"<dt>diagnosis</dt><dd>{_e(analysis.get('diagnosis'))}</dd>"
                     f"<dt>category</dt><dd>{_e(analysis.get('category'))}</dd>"
                     f"<dt>skill</dt><dd>{_e(analysis.get('skill'))}</dd></dl>")
    else:
        why = analysis.get("call_error") or "the reply could not be parsed"
        parts.append(f'<h4>Analysis</h4><p class="bad">failed: {_e(why)}</p>'
                     + (_pre(analysis.get("reply")) if analysis.get("reply") else ""))
    if samples:
        rows = []
        for s, status, ok in samples[:MAX_SAMPLES_SHOWN]:
            question = s.get("question") or s.get("text") or ""
            rows.append([_e(_clip(question, 400)), f"<pre>{_e(_clip(s.get('answer'), 400))}</pre>",
                         f'<span class="{"ok" if ok else "bad"}">{_e(_clip(status, 300))}</span>'])
        more = len(samples) - MAX_SAMPLES_SHOWN
        parts.append(f"<h4>New samples ({len(samples)})</h4>"
                     + _table(["question", "solution", "status"], rows, "examples")
                     + (f'<p class="caption">… and {more} more</p>' if more > 0 else ""))
    else:
        parts.append('<h4>New samples</h4><p class="nodata">none generated for this error</p>')
    parts.append("</div>")
    return "\n".join(parts)


# ----------------------------------------------------------------------------- page

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;
  background:#f6f7f9;color:#1d2330;font-size:14px;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:20px 28px 60px}
h1{font-size:22px;margin:6px 0 2px}h2{font-size:17px;margin:30px 0 10px;border-bottom:2px solid #dde2ea;padding-bottom:4px}
h3{font-size:15px;margin:0 0 8px}h4{font-size:13px;margin:12px 0 4px;color:#4a5568}
.sub{color:#5a6578;margin:0 0 14px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(185px,1fr));gap:8px}
.card{background:#fff;border:1px solid #dde2ea;border-radius:6px;padding:8px 12px}
.card .k{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:#6b7588}
.card .v{font-size:15px;font-weight:600;word-break:break-word}
.plot{background:#fff;border:1px solid #dde2ea;border-radius:6px;padding:8px;overflow-x:auto}
.plot svg{max-width:100%;height:auto}
table{border-collapse:collapse;background:#fff;margin:4px 0 8px;font-size:13px}
th,td{border:1px solid #dde2ea;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#eef1f5;font-weight:600}
table.num td{text-align:right}table.num td:first-child,table.usage td:nth-child(2){text-align:left}
table.rounds td:last-child{text-align:left}table.examples{width:100%}table.examples td{font-size:12px}
pre{white-space:pre-wrap;word-break:break-word;background:#f3f5f8;border:1px solid #e2e6ec;
  border-radius:4px;padding:6px 8px;margin:0;font-size:12px;max-height:260px;overflow:auto}
td pre{background:none;border:0;padding:0;max-height:none}
.example{background:#fff;border:1px solid #dde2ea;border-radius:6px;padding:12px 16px;margin:12px 0}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:4px 16px}.grid .wide{grid-column:1 / -1}
.tag{display:inline-block;font-size:11px;font-weight:600;padding:1px 6px;border-radius:8px;background:#e8ecf2;color:#3b4556}
.ok{color:#1e7b34}.tag.ok{background:#dff3e4}.bad{color:#b42318}.tag.bad{background:#fde4e1}
dl.analysis{display:grid;grid-template-columns:90px 1fr;gap:2px 8px;margin:0}
dl.analysis dt{color:#6b7588}dl.analysis dd{margin:0}
.nodata{color:#7a8494;font-style:italic}.caption{color:#5a6578;font-size:12px;margin:8px 0 2px}
.notes{color:#8a5a00;font-size:12px}
"""


def render(data: RunData, examples: int = 3) -> str:
    m, cfg = data.metrics, data.config
    run_id = m.get("run_id") or data.run_dir.name
    task = m.get("task") or (cfg.get("task") or {}).get("name")
    strategy = m.get("strategy") or (cfg.get("instruct") or {}).get("strategy")
    test = m.get("test") or {}
    best = m.get("best_iteration")
    wall = m.get("wall_minutes")
    if wall is None and m.get("history"):
        wall = round(sum(r.get("minutes") or 0 for r in m["history"]), 2)
    roles = ("; ".join(f"{r}: {d}" for r, d in data.roles.items())
             or ("none (random control)" if strategy == "random" else "–"))
    test_line = (f"{_pct(test.get('baseline'))} → {_pct(test.get('best'))}" if test else "–")
    cards = [("run", run_id), ("task", task), ("strategy", strategy),
             ("target model", (cfg.get("target") or {}).get("model")),
             ("stop reason", m.get("stop_reason") or ("still running?" if m else None)),
             ("best round", "base model" if best == 0 else best),
             ("best validation", _pct(m.get("best_validation")) if m.get("best_validation") is not None else None),
             ("test accuracy base → best", test_line),
             *([("test, held-out phrasings base → best",
                 f"{_pct(test.get('baseline_heldout_phrasing'))} → {_pct(test.get('best_heldout_phrasing'))}")]
               if "baseline_heldout_phrasing" in test else []),
             ("wall minutes", wall),
             ("best adapter", m.get("best_adapter") or ("none: the base model stayed best" if best == 0 else None))]
    header = "".join(f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{_e("–" if v is None else v)}</div></div>'
                     for k, v in cards)
    from lai.graph.report_skills import sections as skill_sections

    counts = category_counts(data)
    skills_html, kept_html = skill_sections(data)
    k_ex, examples_html = worked_examples(data, examples)
    notes = "".join(f"<li>{_e(n)}</li>" for n in dict.fromkeys(data.notes))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lai report: {_e(run_id)}</title>
<style>{CSS}</style></head>
<body><main>
<h1>llms-as-instructors: run <code>{_e(run_id)}</code></h1>
<p class="sub">Instructor per role: {_e(roles)}. Report written {_e(time.strftime("%Y-%m-%d %H:%M"))}
from <code>{_e(data.run_dir)}</code>.</p>
<section id="summary"><div class="cards">{header}</div></section>
<section id="accuracy"><h2>Accuracy per round</h2>
<div class="plot">{accuracy_plot(data)}</div>
{rounds_table(data)}</section>
{skills_html}
<section id="categories"><h2>Error categories per round</h2>
<div class="plot">{category_plot(data, counts)}</div></section>
<section id="samples"><h2>Samples per round: generated, kept, rejected by reason</h2>
{samples_table(data)}</section>
{kept_html}
<section id="usage"><h2>Instructor tokens and cost per role</h2>
{usage_table(data)}</section>
<section id="examples"><h2>Worked examples{f" (round {k_ex})" if k_ex else ""}: error → analysis → new samples</h2>
{examples_html}</section>
{f'<section id="notes"><h2>Unreadable files</h2><ul class="notes">{notes}</ul></section>' if notes else ""}
</main></body></html>
"""


def write_report(run_dir: Path, out_path: Path | None = None, examples: int = 3) -> Path:
    """Write the run's HTML report (default `run_dir/report.html`), atomically; returns its path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        from lai.tools.errors import LaiError

        raise LaiError(f"no run folder {run_dir}")
    out = Path(out_path) if out_path else run_dir / "report.html"
    return atomic_write_text(out, render(load_run(run_dir), examples))
