"""`LaiConfig`: the whole run's settings, composed from each room's own section.

Built from YAML plus `--set key=value` overrides and validated with `extra="forbid"`, so a
misspelt key fails at start with its dotted name, before any model is loaded.
"""

from __future__ import annotations

import difflib
import os
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo,
                      field_validator, model_validator)

from lai.agents.ledger import BudgetConfig
from lai.agents.llm import OFFLINE, ROLES, RolesConfig
from lai.tools.errors import LaiError
from lai.tools.generation import GenerationConfig
from lai.tools.jsonl import not_utf8
from lai.training.config import TrainConfig

_STRICT = ConfigDict(extra="forbid", use_attribute_docstrings=True)
STRATEGY_ROLES = {"le": ("analyst", "generator"), "lec": ("analyst", "generator"),
                  "mimic": ("generator",), "random": (), "skill_matched": ()}
"""The instructor roles each strategy calls."""
ARITH_ANSWER_TOKENS = 96
"""`generation.max_new_tokens` for `arith` unless set: its longest worked solution is 92 tokens."""


def run_roles(cfg: "LaiConfig") -> list[str]:
    """The instructor roles a run calls: its strategy's (none for the controls), and the judge
    when one is configured."""
    roles = list(STRATEGY_ROLES[cfg.instruct.strategy])
    if roles and cfg.roles.enabled("judge"):
        roles.append("judge")
    return roles


def default_cache_dir() -> Path:
    return Path(os.environ.get("LAI_CACHE_DIR", Path.home() / ".cache" / "lai"))


def default_runs_dir() -> Path:
    """`$LAI_RUNS_DIR`, else `runs` (relative to the current folder): set the variable to run
    and find runs (`lai runs`, `show`, `report`, `resume`) from any folder."""
    return Path(os.environ.get("LAI_RUNS_DIR") or "runs").expanduser()


class RunConfig(BaseModel):
    model_config = _STRICT
    runs_dir: Path = Field(default_factory=default_runs_dir)
    """Folder holding one sub-folder per run (`$LAI_RUNS_DIR`, default `runs`)."""
    run_id: str | None = None
    """Name of this run's folder; None = `<task>-<strategy>-<date-time>`."""
    seed: int = 0
    """Seeds error selection, replay sampling and training."""
    cache_dir: Path = Field(default_factory=default_cache_dir)
    """Converted models live here (`$LAI_CACHE_DIR`, default ~/.cache/lai)."""


class TargetConfig(BaseModel):
    model_config = _STRICT
    model: str = "smollm2-135m-instruct"
    """Hugging Face id, local directory, or `smollm2-135m-instruct` (embedded, no download)."""
    dtype: Literal["auto", "bfloat16", "float32", "float16"] = "auto"
    """`auto` = bf16 where the hardware runs it natively, else fp32."""


class TaskConfig(BaseModel):
    model_config = _STRICT
    name: str = "arith"
    """A registered task (`lai tasks` lists them)."""
    options: dict[str, Any] = {}
    """Passed to the task's constructor: for `arith` seed, n_mining, n_validation, n_test; for
    the file-backed tasks path / paths, fields, on_bad_row, seed, fractions (docs/tasks.md)."""
    limits: dict[Literal["mining", "validation", "test"], int | None] = {}
    """Use only the first N items of a split; missing or None = all."""

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        from lai.tools.tasks import get_task, task_names

        if name not in task_names():
            try:
                get_task(name)  # raises the registry's own "did you mean" message
            except LaiError as e:
                raise ValueError(str(e)) from None
        return name


class InstructConfig(BaseModel):
    model_config = _STRICT
    strategy: Literal["le", "lec", "mimic", "random", "skill_matched"] = "le"
    """`le`: each error alone; `lec`: with its k nearest right answers; `mimic`: the paper's
    baseline, similar samples from each error's question without the wrong answer or an
    analysis; `random`: control that trains on as many samples drawn at random from the task
    (built-in task only), no instructor; `skill_matched`: control with the selected errors'
    skill mix (as the proportional rule would ask for them), drawn at random within each
    skill (built-in task only), no instructor."""
    k: int = Field(2, ge=1, le=8)
    """LEC: correctly answered neighbours shown with each error (paper: 2-3)."""
    max_errors: int = Field(64, gt=0)
    """Errors analysed per iteration (chosen at random, seeded, when there are more)."""
    budget: int = Field(256, gt=0)
    """New samples kept per iteration at most (paper: ~3000 per dataset)."""
    max_repairs: int = Field(2, ge=0)
    """Times a sample that fails verification goes back to the generator with the failure."""
    allocation: Literal["proportional", "learnable"] = "proportional"
    """How the round's budget is spread over its errors: `proportional` = the paper's count rule
    (the same number for every error); `learnable` = more for errors in skills the target is
    part-way through learning and for near misses (agents/allocation.py). Recorded per round
    in `allocation.json`."""


class LoopConfig(BaseModel):
    model_config = _STRICT
    max_iterations: int = Field(3, gt=0)
    """Instruct-train rounds at most."""
    patience: int = Field(1, gt=0)
    """Stop after this many rounds in a row without a validation gain of `min_delta`."""
    min_delta: float = Field(0.005, ge=0.0)
    """Smallest validation-accuracy gain that counts as an improvement (fraction, 0.005 = 0.5 pt)."""
    target_accuracy: float | None = Field(None, gt=0.0, le=1.0)
    """Stop once validation accuracy reaches this; None = no target."""
    keep_rule: Literal["bootstrap", "greater"] = "bootstrap"
    """When a round's adapter replaces the best one. `bootstrap`: only if a paired bootstrap over
    the validation items gives P(better than the best) >= `keep_confidence` (so one item more in
    256 is noise, not a gain); `greater`: whenever validation accuracy is higher."""
    keep_confidence: float = Field(0.8, gt=0.5, lt=1.0)
    """`bootstrap` rule: bootstrap probability that the round beats the best, needed to keep it."""
    guard_margin: float | None = Field(None, ge=0.0, le=1.0)
    """Roll back a round whose validation accuracy on a strong skill falls more than this below
    the best round's (fraction, 0.05 = 5 pt); None = no guard."""
    guard_min_accuracy: float = Field(0.5, ge=0.0, le=1.0)
    """Guard: a skill is strong when the best round's validation accuracy on it is at least this."""


class TrackingConfig(BaseModel):
    model_config = _STRICT
    enabled: bool = True
    """Log the run to MLflow: config as params, per-round metrics, a trace per node with its LLM
    calls, training curves, the best adapter and the report (docs/tracking.md)."""
    uri: str | None = None
    """MLflow tracking URI (`sqlite:///path/mlflow.db`, `http://host:5000`, ...); None = a local
    store shared by the runs of `run.runs_dir`: `sqlite:///<runs_dir>/mlflow.db`, artifacts in
    `<runs_dir>/mlartifacts`."""
    experiment: str = Field("lai", min_length=1)
    """MLflow experiment the run is logged under."""


class LaiConfig(BaseModel):
    model_config = _STRICT
    run: RunConfig = Field(default_factory=RunConfig)  # read $LAI_RUNS_DIR, $LAI_CACHE_DIR at load
    target: TargetConfig = TargetConfig()
    task: TaskConfig = TaskConfig()
    generation: GenerationConfig = GenerationConfig()
    instruct: InstructConfig = InstructConfig()
    roles: RolesConfig = RolesConfig()
    train: TrainConfig = TrainConfig()
    loop: LoopConfig = LoopConfig()
    budget: BudgetConfig = BudgetConfig()
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="after")
    def _offline_only_for_arith(self, info: ValidationInfo) -> "LaiConfig":
        if self.task.name == "arith" and "max_new_tokens" not in self.generation.model_fields_set:
            self.generation.max_new_tokens = ARITH_ANSWER_TOKENS
        if (info.context or {}).get("evaluate_only"):  # `lai eval`: no loop, no instructor
            return self
        used = STRATEGY_ROLES[self.instruct.strategy]
        if self.instruct.strategy in ("random", "skill_matched") and self.task.name != "arith":
            raise ValueError(f"instruct.strategy {self.instruct.strategy!r} samples the task itself, "
                             f"which only the built-in `arith` task can do, not {self.task.name!r}")
        if self.instruct.strategy in ("random", "skill_matched", "mimic") and self.instruct.allocation != "proportional":
            raise ValueError(f"instruct.allocation {self.instruct.allocation!r} weighs errors by their "
                             f"analysis, which strategy {self.instruct.strategy!r} does not have: use "
                             f"proportional")
        if self.task.name != "arith":
            for role in (*used, "judge") if used else ():
                if self.roles.resolve(role).model == OFFLINE and self.roles.enabled(role):
                    raise ValueError(
                        f"roles.{role} uses the offline rule-based instructor, which only knows "
                        f"the built-in `arith` task, not {self.task.name!r}: set "
                        f"roles.default.model to an LLM (e.g. openai:gpt-4o-mini)"
                    )
        return self


def load_config(path: str | Path | None = None, overrides: list[str] = (), *,
                origins: dict[str, str] | None = None, evaluate_only: bool = False) -> LaiConfig:
    """Read YAML (optional), apply `key.sub=value` overrides, validate.

    Args:
        overrides: `key.path=value` strings, the value read as YAML, applied in order.
        origins: override → the flag it came from (e.g. `--max-iterations 0`), so a message
            names the flag; any other override is named `--set <override>`.
        evaluate_only: skip the loop's checks (strategy, instructor roles): `lai eval` uses
            neither.

    Raises:
        LaiError: naming the file or flag, the bad key and what was expected.
    """
    data = _read_yaml(Path(path)) if path else {}
    set_by: dict[str, str] = {}  # dotted key → the flag that set it
    for override in overrides:
        flag = (origins or {}).get(override, f"--set {override}")
        key, sep, raw = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise LaiError(f"{flag}: expected key.path=value, e.g. loop.max_iterations=2")
        try:
            value = _safe_yaml(raw)
        except yaml.YAMLError as e:
            raise LaiError(
                f"{flag}: the value {raw!r} is not valid YAML ({getattr(e, 'problem', None) or e}); "
                f"give a number, a word, a list [a, b] or a mapping {{k: v}}, and quote text "
                f"holding YAML symbols, e.g. --set \"{key}='{raw}'\"") from None
        _set_dotted(data, key, value, flag)
        set_by[key] = flag
    try:
        return LaiConfig.model_validate(data, context={"evaluate_only": evaluate_only})
    except ValidationError as e:
        raise LaiError(_explain(e, str(path) if path else "defaults", set_by)) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    """A config file's top-level mapping.

    Raises:
        LaiError: missing, a folder, unreadable, not UTF-8 (its line), not YAML, empty (an
            empty file is refused, not taken as "all defaults"), or not a mapping.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LaiError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise LaiError(f"config path {path} is a folder, not a YAML file: give the file itself "
                       f"(a run's is <run folder>/config.yaml)") from None
    except OSError as e:
        raise LaiError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise LaiError(f"{path}:{line}: {not_utf8(raw, e.start)}") from None
    try:
        data = _safe_yaml(text)
    except yaml.YAMLError as e:
        raise LaiError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        raise LaiError(f"{path}: the config file is empty: put the settings to change in it "
                       f"(e.g. `loop: {{max_iterations: 2}}`), or leave the path out to run the "
                       f"embedded default")
    if not isinstance(data, dict):
        raise LaiError(f"{path}: expected a mapping of sections at the top (e.g. `loop:`), got "
                       f"{type(data).__name__}")
    return data


def _safe_yaml(text: str) -> Any:
    """`yaml.safe_load`, with all it raises made a YAMLError. Besides YAMLError, PyYAML's
    constructors raise whatever a bad scalar makes them: ValueError (a date 2024-13-45,
    `!!int abc`), IndexError (`!!int ` with no digits), AttributeError (`!!timestamp x`), and
    nesting thousands deep raises RecursionError (found by tests/graph/test_fuzz_config.py)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise
    except RecursionError:
        raise yaml.YAMLError("nested too deeply") from None
    except Exception as e:  # noqa: BLE001 - see above; the message still names the place
        raise yaml.YAMLError(f"{type(e).__name__}: {e}") from None


def dump_config(cfg: LaiConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def _set_dotted(data: dict, key: str, value: Any, flag: str) -> None:
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise LaiError(f"{flag}: {part!r} is not a section")
    node[parts[-1]] = value


def _explain(e: ValidationError, base: str, set_by: dict[str, str]) -> str:
    """One line per bad key, under a header naming where the bad values came from: the file
    (or `defaults`), or the flag that set them."""
    lines, wheres = [], []
    for err in e.errors():
        key = ".".join(str(p) for p in err["loc"])
        wheres.append(_sources(key, base, set_by))
        shown = key or "(top level)"
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(err["loc"][-1]), _keys_under(err["loc"][:-1]), n=1)
            hint = f"did you mean `{'.'.join([*map(str, err['loc'][:-1]), close[0]])}`? " if close else ""
            lines.append(f"  `{shown}`: unknown key ({hint}check the spelling; see docs/config.md)")
        else:
            got = f" (got {err['input']!r})" if not isinstance(err.get("input"), dict) else ""
            lines.append(f"  `{shown}`: {err['msg'].removeprefix('Value error, ')}{got}")
    sources = list(dict.fromkeys(w for where in wheres for w in where))
    sources.sort(key=lambda w: w != base)  # the file (or defaults) first, then the flags
    if len(sources) > 1:  # say which line came from where
        lines = [f"{line} [from {', '.join(where)}]" for line, where in zip(lines, wheres)]
    return f"invalid config ({', '.join(sources)}):\n" + "\n".join(lines)


def _sources(key: str, base: str, set_by: dict[str, str]) -> list[str]:
    """Where the value at `key` came from; for a check across sections (no key), every source."""
    if key:
        hits = [flag for k, flag in set_by.items()
                if k == key or k.startswith(key + ".") or key.startswith(k + ".")]
        return hits[-1:] or [base]
    flags = list(dict.fromkeys(set_by.values()))
    return flags if flags and base == "defaults" else [base, *flags]


def _keys_under(loc: tuple) -> list[str]:
    """The valid keys of the section at `loc` (for a "did you mean")."""
    model: type[BaseModel] = LaiConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        kinds = typing.get_args(field.annotation) or (field.annotation,) if field else ()
        inner = [t for t in kinds if isinstance(t, type) and issubclass(t, BaseModel)]
        if not inner:
            return []
        model = inner[0]
    return list(model.model_fields)


def config_reference() -> str:
    """Markdown table of every key, its default and its docstring (docs/config.md is this)."""
    lines = ["# Configuration reference", "",
             "Every key of `lai run`'s YAML config; set any one from the command line with",
             "`--set section.key=value`. Generated from the pydantic models by",
             "`python -c 'from lai.graph.config import config_reference as r; print(r(), end=\"\")' > docs/config.md`.",
             ""]
    for section, field in LaiConfig.model_fields.items():
        model = type(field.get_default(call_default_factory=True))
        lines += [f"## `{section}`", "", "| key | default | meaning |", "| --- | --- | --- |"]
        for name, sub in model.model_fields.items():
            default = sub.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                default = default.model_dump(exclude_none=True)
            if section == "run" and name in ("cache_dir", "runs_dir"):  # read from the environment
                default = {"cache_dir": "$LAI_CACHE_DIR or ~/.cache/lai", "runs_dir": "$LAI_RUNS_DIR or runs"}[name]
            doc = (sub.description or "").replace("\n", " ").replace("|", "\\|")
            lines.append(f"| `{section}.{name}` | `{default}` | {doc} |")
        lines.append("")
    return "\n".join(lines)
