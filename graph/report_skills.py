"""Per-skill and per-phrasing scores of a run: what `curate` counts, what `lai show` and
`lai report` present.

The evaluator breaks every score down by skill (an item's `skill`, else `subject` or
`category`) and, for items with `held_out_phrasing`, by seen / held-out phrasing; the nodes
record them in `metrics.json` (history rows: `validation_by_skill`, `kept_by_skill`,
`kept_by_category`; test block: `baseline_by_skill`, `best_by_skill`, `*_by_phrasing`). A run
written before those keys existed is read from its files instead (`iter_<k>/eval_*.jsonl`,
`kept.jsonl`, `analyses.jsonl`); what neither has is "no data".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lai.agents.evaluator import accuracies, group_of, phrasing_breakdown, skill_breakdown
from lai.graph.layout import RunLayout
from lai.tools.jsonl import read_jsonl

MAX_SKILL_LINES = 10  # skills drawn in the plot (the largest); the table lists all
MAX_KEPT_ROWS = 15  # categories listed per table; the rest are summed as "other"
PHRASINGS = {"seen": "seen phrasings", "held_out": "held-out phrasings"}


# ----------------------------------------------------------------------------- counting

def normalise_category(category: Any) -> str:
    return " ".join(str(category).lower().split())


def kept_breakdown(kept: list[dict], analyses: list[dict],
                   strategy: str) -> tuple[dict[str, int], dict[str, int]]:
    """A round's kept samples counted per skill and per error category.

    The category is the one the analysis of the sample's `source_error` named; a sample with
    no analysis counts under its strategy (`random`, `mimic`), else under `none`. Samples
    without a skill are not counted per skill. Both sorted by count, then name."""
    categories = {a.get("error_id"): normalise_category(a["category"])
                  for a in analyses if a.get("ok") and a.get("category")}
    fallback = strategy if strategy in ("random", "mimic") else "none"
    by_skill = Counter(g for s in kept if (g := group_of(s)) is not None)
    by_category = Counter(categories.get(s.get("source_error"))
                          or ("random" if s.get("source_error") == "random" else fallback)
                          for s in kept)
    return _sorted_counts(by_skill), _sorted_counts(by_category)


def _sorted_counts(c: Counter) -> dict[str, int]:
    return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


# ----------------------------------------------------------------------------- gathering

@dataclass
class SkillData:
    validation: dict[int, dict[str, float]] = field(default_factory=dict)
    """Round (0 = base model) → skill → validation accuracy; rounds without data are absent."""
    validation_n: dict[str, int] = field(default_factory=dict)
    test: dict[str, dict[str, dict]] = field(default_factory=dict)
    """`baseline` / `best` → skill → `{n, correct, accuracy}` on the test split."""
    phrasing: dict[str, dict[str, dict]] = field(default_factory=dict)
    """`baseline` / `best` → `seen` / `held_out` → `{n, correct, accuracy}` on the test split."""
    kept: dict[int, dict[str, int]] = field(default_factory=dict)
    """Round → skill → kept samples."""
    kept_categories: dict[int, dict[str, int]] = field(default_factory=dict)
    """Round → error category → kept samples."""
    rounds: list[int] = field(default_factory=list)
    verdicts: dict[int, str] = field(default_factory=dict)
    """Round → `kept` / `rolled back` / `failed`, from the history."""

    @property
    def skills(self) -> list[str]:
        found = {s for accs in self.validation.values() for s in accs}
        found |= {s for groups in self.test.values() for s in groups}
        return sorted(found)


def _full(groups: Any) -> dict[str, dict]:
    """A breakdown in either form ({g: accuracy} or {g: {n, correct, accuracy}}) as the full one."""
    if not isinstance(groups, dict):
        return {}
    return {str(g): v if isinstance(v, dict) else {"accuracy": v}
            for g, v in groups.items() if isinstance(v, (dict, int, float))}


def _from_rows(rows: list[dict] | None) -> tuple[dict[str, dict], dict[str, dict]]:
    if not rows:
        return {}, {}
    correct = [bool(r.get("correct")) for r in rows]
    return skill_breakdown(rows, correct), phrasing_breakdown(rows, correct)


def gather_skills(metrics: dict, run_dir: Path,
                  read: Callable[[Path], list[dict] | None] | None = None) -> SkillData:
    """Per-skill data from `metrics.json`, falling back to the round folders' files.
    `read(path)` returns a round file's rows, or None when missing or unreadable."""
    read, layout = read or _read_rows, RunLayout(run_dir)
    history = [r for r in metrics.get("history") or [] if isinstance(r.get("iteration"), int)]
    rows_by_k = {r["iteration"]: r for r in history}
    rounds = sorted(rows_by_k)
    data = SkillData(rounds=[k for k in rounds if k >= 1])
    for k in rounds:
        row = rows_by_k[k]
        data.verdicts[k] = ("base" if k == 0 else "kept" if row.get("kept_as_best")
                            else "failed" if row.get("validation") is None else "rolled back")
        if isinstance(row.get("validation_by_skill"), dict):
            data.validation[k] = {str(s): a for s, a in row["validation_by_skill"].items()
                                  if isinstance(a, (int, float))}
            if isinstance(row.get("validation_n_by_skill"), dict):
                data.validation_n.update(row["validation_n_by_skill"])
        elif row.get("validation") is not None:
            by_skill, _ = _from_rows(read(layout.round(k).eval("validation")))
            if by_skill:
                data.validation[k] = accuracies(by_skill)
                data.validation_n.update({s: v["n"] for s, v in by_skill.items()})
        if k >= 1:
            by_skill, by_category = row.get("kept_by_skill"), row.get("kept_by_category")
            if not isinstance(by_category, dict):
                kept = read(layout.round(k).kept)
                if kept is not None:
                    by_skill, by_category = kept_breakdown(
                        kept, read(layout.round(k).analyses) or [], str(metrics.get("strategy")))
            if isinstance(by_category, dict):
                data.kept[k] = by_skill if isinstance(by_skill, dict) else {}
                data.kept_categories[k] = by_category

    test = metrics.get("test") or {}
    best = metrics.get("best_iteration")
    for which in ("baseline", "best"):
        if which == "best" and "best" not in test:
            continue  # the final test has not run yet
        by_skill, by_phrasing = _full(test.get(f"{which}_by_skill")), _full(test.get(f"{which}_by_phrasing"))
        if not by_skill and not by_phrasing:
            k = 0 if which == "baseline" else best
            if isinstance(k, int):
                by_skill, by_phrasing = _from_rows(read(layout.round(k).eval("test")))
        if by_skill:
            data.test[which] = by_skill
        if by_phrasing:
            data.phrasing[which] = by_phrasing
    return data


def _read_rows(path: Path) -> list[dict] | None:
    try:
        return read_jsonl(path) if path.is_file() else None
    except Exception:  # noqa: BLE001 - a missing breakdown must not stop `lai show`
        return None


def acc(groups: dict[str, dict], key: str) -> float | None:
    v = (groups or {}).get(key) or {}
    a = v.get("accuracy")
    return a if isinstance(a, (int, float)) else None


def n_of(data: SkillData, which: str, key: str) -> int | None:
    """Items of group `key` on the test split (`which`: `test` or `phrasing`)."""
    source = data.test if which == "test" else data.phrasing
    for side in ("baseline", "best"):
        n = ((source.get(side) or {}).get(key) or {}).get("n")
        if isinstance(n, int):
            return n
    return None


# ----------------------------------------------------------------------------- HTML (lai report)

def skill_plot(data: SkillData) -> str:
    """Validation accuracy per skill vs round, one line per skill (the largest MAX_SKILL_LINES)."""
    from lai.graph.report import _label, _matplotlib_missing, _no_data, _svg

    if not data.validation:
        return _no_data("no per-skill validation scores (metrics.json validation_by_skill, "
                        "or eval_validation.jsonl rows with a skill)")
    if missing := _matplotlib_missing():
        return _no_data(missing)
    from matplotlib.figure import Figure

    skills = sorted({s for accs in data.validation.values() for s in accs},
                    key=lambda s: (-data.validation_n.get(s, 0), s))
    shown = sorted(skills[:MAX_SKILL_LINES])
    xs = sorted(data.validation)
    fig = Figure(figsize=(9.5, 3.8))
    ax = fig.add_subplot()
    palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
               "#ff9da7", "#9c755f", "#bab0ac"]
    markers = "osD^vP*Xph"
    for i, skill in enumerate(shown):
        pts = [(x, data.validation[x][skill]) for x in xs if skill in data.validation[x]]
        n = data.validation_n.get(skill)
        ax.plot(*zip(*pts), color=palette[i % len(palette)], marker=markers[i % len(markers)],
                ms=5, lw=1.4, label=_label(skill) + (f" (n={n})" if n else ""))
    for x in xs:
        if data.verdicts.get(x) == "rolled back":
            ax.axvspan(x - 0.3, x + 0.3, color="#d62728", alpha=0.06, zorder=0)
    ax.set_xticks(xs, ["base" if x == 0 else f"{x}" + ("\n(rolled back)" if data.verdicts.get(x) == "rolled back" else "")
                       for x in xs])
    ax.set_xlim(xs[0] - 0.4, xs[-1] + 0.4)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("round")
    ax.set_ylabel("validation accuracy")
    ax.yaxis.set_major_formatter(lambda y, _: f"{y * 100:.0f}%")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    svg = _svg(fig)
    if len(skills) > len(shown):
        svg += (f'<p class="caption">The {len(shown)} largest of {len(skills)} skills; '
                "the table below lists all.</p>")
    return svg


def _delta(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "–"
    d = (b - a) * 100
    cls = "ok" if d > 0 else "bad" if d < 0 else ""
    return f'<span class="{cls}">{d:+.1f}</span>'


def skill_table(data: SkillData) -> str:
    """Rows = skills; columns = validation per round (base, 1, 2, ...), test base → best."""
    from lai.graph.report import _e, _no_data, _num, _pct, _table

    skills = data.skills
    if not skills:
        return _no_data("no per-skill scores in metrics.json or the evaluation files")
    xs = sorted(data.validation)
    base, best = data.test.get("baseline") or {}, data.test.get("best") or {}
    rows = []
    for s in skills:
        rows.append([_e(s), _num(data.validation_n.get(s)),
                     *[_pct(data.validation[x].get(s)) for x in xs],
                     _num(n_of(data, "test", s)), _pct(acc(base, s)), _pct(acc(best, s)),
                     _delta(acc(base, s), acc(best, s))])
    heads = ["skill", "validation n",
             *[("val base" if x == 0 else f"val round {x}"
                + (" (rolled back)" if data.verdicts.get(x) == "rolled back" else ""))
               for x in xs],
             "test n", "test base", "test best", "Δ points"]
    return _table(heads, rows, "num skills")


def phrasing_table(data: SkillData) -> str:
    """Test accuracy on seen vs held-out phrasings, base model vs best adapter."""
    from lai.graph.report import _e, _no_data, _num, _pct, _table

    if not data.phrasing:
        return _no_data("no test item carries held_out_phrasing (or the run predates it)")
    base, best = data.phrasing.get("baseline") or {}, data.phrasing.get("best") or {}
    rows = [[_e(label), _num(n_of(data, "phrasing", key)), _pct(acc(base, key)),
             _pct(acc(best, key)), _delta(acc(base, key), acc(best, key))]
            for key, label in PHRASINGS.items() if key in base or key in best]
    return _table(["test items", "n", "base", "best", "Δ points"], rows, "num phrasing")


def kept_tables(data: SkillData) -> str:
    """Kept samples per round: per skill, and per error category they were written for."""
    from lai.graph.report import _e, _no_data, _num, _table

    if not data.kept_categories:
        return _no_data("no round kept samples (metrics.json kept_by_skill, or kept.jsonl)")
    rounds = sorted(data.kept_categories)
    parts = []
    for title, per_round in (("skill", data.kept), ("error category", data.kept_categories)):
        total = Counter()
        for counts in per_round.values():
            total.update(counts)
        if not total:
            parts.append(f'<p class="caption">Kept samples per {title}:</p>'
                         + _no_data(f"no kept sample names a {title}"))
            continue
        names = [name for name, _ in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))]
        shown, rest = names[:MAX_KEPT_ROWS], names[MAX_KEPT_ROWS:]
        rows = [[_e(name), *[_num((per_round.get(k) or {}).get(name, 0)) for k in rounds],
                 f"<b>{_num(total[name])}</b>"] for name in shown]
        if rest:
            rows.append([_e(f"other ({len(rest)})"),
                         *[_num(sum((per_round.get(k) or {}).get(n, 0) for n in rest)) for k in rounds],
                         f"<b>{_num(sum(total[n] for n in rest))}</b>"])
        parts.append(f'<p class="caption">Kept samples per {title}:</p>'
                     + _table([title, *[f"round {k}" for k in rounds], "total"], rows, "num"))
    return "\n".join(parts)


def sections(run) -> tuple[str, str]:
    """The report's two per-skill sections for a `RunData`: accuracy, and kept samples."""
    data = gather_skills(run.metrics, run.run_dir, run.rows)
    accuracy = f"""<section id="skills"><h2>Accuracy per skill</h2>
<div class="plot">{skill_plot(data)}</div>
{skill_table(data)}
<p class="caption">Test accuracy on seen and held-out phrasings:</p>
{phrasing_table(data)}</section>"""
    kept = f"""<section id="kept-skills"><h2>Kept samples per skill and error category</h2>
{kept_tables(data)}</section>"""
    return accuracy, kept
