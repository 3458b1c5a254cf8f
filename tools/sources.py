"""Where a benchmark task's rows come from, and how they become mining/validation/test splits.

A *source* is a local `.jsonl` / `.json` file or a Hugging Face dataset (`hf:<name>[:<config>]`
plus a split). Rows are renamed to the task's field names (`fields`), converted to task items
by the task, and a malformed row is reported with its file and line: fatal
(`on_bad_row: fail`, the default) or skipped and counted (`on_bad_row: skip`).

Each split names a source. Splits that name the same source divide it between them: rows are
ordered by a seeded hash of their id and cut by `fractions`, so the division is deterministic,
independent of the file's row order, and recorded (ids per split) in `split_info()`.

`SourcedTask` is the base of the benchmark tasks (math, multiple choice, code): it holds the
options every one of them takes (`path`, `paths`, `split`, `key`, `fields`, `on_bad_row`,
`seed`, `fractions`) and implements `load` and `split_info`.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import inspect
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

from lai.tools.errors import LaiError
from lai.tools.jsonl import iter_jsonl

Item = dict[str, Any]

SPLITS = ("mining", "validation", "test")
BAD_ROW_MODES = ("fail", "skip")
DEFAULT_FRACTIONS = {"mining": 0.5, "validation": 0.2, "test": 0.3}
"""How one source is divided when every split names it (renormalized over the splits that
share a source, e.g. MBPP's test file → validation 0.4, test 0.6)."""
_MAX_BAD_LISTED = 1000


class RowError(ValueError):
    """A row the task cannot use (missing field, wrong type, no final answer, ...)."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.field = field


class RowSkip(Exception):
    """A well-formed row the task deliberately leaves out (counted per reason, not an error)."""


# ---------------------------------------------------------------- data folder


def data_dir() -> Path | None:
    """The benchmark data folder, `$LAI_DATA_DIR` (docs/tasks.md); None when it is not set.
    Never guessed from where the code lives: an installed package has no `../shared`."""
    env = os.environ.get("LAI_DATA_DIR")
    return Path(env).expanduser() if env else None


def default_path(task: str, relative: str) -> str:
    """A built-in task's default file under `data_dir()`.

    Raises:
        LaiError: no data folder is set, or the file is missing; says where it looked and how
            to point at a file.
    """
    folder = data_dir()
    fix = ("set LAI_DATA_DIR to the folder holding it (e.g. `export LAI_DATA_DIR=../shared/data`), "
           "or point the task at a file with task.options.path (or task.options.paths per split)")
    if folder is None:
        raise LaiError(f"task {task!r}: its default data file {relative} is read from the benchmark "
                       f"data folder, and LAI_DATA_DIR is not set: {fix}")
    path = folder / relative
    if not path.is_file():
        raise LaiError(f"task {task!r}: default data file {relative} not found in {folder} "
                       f"($LAI_DATA_DIR): {fix}")
    return str(path)


# ---------------------------------------------------------------- sources


@dataclass(frozen=True)
class Source:
    """A local file, or a Hugging Face dataset (`hf:<name>[:<config>]`) with its split."""

    path: str
    hf_split: str | None = None
    key: str | None = None  # JSON files: the key holding the list of rows

    @property
    def is_hf(self) -> bool:
        return self.path.startswith("hf:")

    def label(self) -> str:
        return f"{self.path}[{self.hf_split}]" if self.is_hf else self.path

    def stem(self) -> str:
        if self.is_hf:
            return re.sub(r"\W+", "_", self.hf_split or "train")
        return Path(self.path).name.split(".")[0]


def parse_source(spec: Any, option: str, *, hf_split: str | None = None, key: str | None = None,
                 base: str = "") -> Source:
    """A `Source` from an option value: a path / `hf:` string, or `{path, split, key}`."""
    if isinstance(spec, Path):
        spec = str(spec)
    if isinstance(spec, dict):
        unknown = set(spec) - {"path", "split", "key"}
        if unknown or "path" not in spec:
            raise LaiError(f"{base}option {option}: expected a path string or a mapping with "
                           f"`path` (and optional `split`, `key`), got keys {sorted(spec)}")
        return parse_source(spec["path"], option, hf_split=spec.get("split", hf_split),
                            key=spec.get("key", key), base=base)
    if not isinstance(spec, str) or not spec.strip():
        raise LaiError(f"{base}option {option}: expected a file path or 'hf:<name>[:<config>]', "
                       f"got {spec!r}")
    spec = spec.strip()
    if spec.startswith("hf:"):
        if not spec[3:].split(":")[0]:
            raise LaiError(f"{base}option {option}: {spec!r} names no dataset; use 'hf:<name>[:<config>]'")
        return Source(spec, hf_split or "train", None)
    if hf_split is not None and not isinstance(hf_split, str):
        raise LaiError(f"{base}option {option}: split must be a string, got {hf_split!r}")
    return Source(str(Path(spec).expanduser()), None, key)


def read_source(source: Source) -> Iterator[tuple[str, Any]]:
    """Yield `(where, row)` for each row of a source; `row` is an exception for a line that is
    not JSON. `where` is `file:line` (JSON arrays: the element's line) or `hf:name[split]#i`.

    Raises:
        LaiError: missing file, unreadable JSON document, or a Hugging Face dataset that cannot
            be loaded (offline, unknown name, unknown split).
    """
    if source.is_hf:
        yield from _read_hf(source)
        return
    path = Path(source.path)
    if not path.is_file():
        raise LaiError(f"data file not found: {path}")
    if path.suffix == ".jsonl" or (path.suffix != ".json" and not source.key):
        yield from _read_jsonl(path)
        return
    # Bytes that are not UTF-8 become lone surrogates: the rows holding them are named and
    # go through on_bad_row like any bad row, instead of the whole file failing to decode.
    text = path.read_bytes().removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="surrogateescape")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # a JSON-lines file named .json
            yield from _read_jsonl(path)
            return
        line = text.splitlines()[e.lineno - 1] if text.splitlines() else ""
        why = _bad_bytes(line) or f"not valid JSON ({e.msg})"
        raise LaiError(f"{path}:{e.lineno}: {why}") from None
    if isinstance(doc, dict):
        lists = [k for k, v in doc.items() if isinstance(v, list)]
        key = source.key
        if key is None and len(lists) == 1:
            key = lists[0]
        if key is None or key not in doc or not isinstance(doc[key], list):
            want = f"key {source.key!r} is not a list there" if source.key else (
                "it is an object; name the key holding the rows")
            raise LaiError(f"{path}: expected a JSON list of rows, or an object with a list under "
                           f"a key: {want} (keys holding lists: {lists or 'none'}; set "
                           f"task.options.key)")
        rows, start = doc[key], _list_start(text, key)
    elif isinstance(doc, list):
        rows, start = doc, text.index("[")
    else:
        raise LaiError(f"{path}: expected a JSON list of rows, got {type(doc).__name__}")
    lines = _element_lines(text, start, len(rows))
    for i, row in enumerate(rows):
        bad = _bad_bytes(json.dumps(row, ensure_ascii=False))
        yield (f"{path}:{lines[i]}" if lines else f"{path}[{i}]"), RowError(bad) if bad else row


_SURROGATE = re.compile("[\udc80-\udcff]")


def _bad_bytes(text: str) -> str | None:
    """Why text decoded with `surrogateescape` was not UTF-8, or None when it was."""
    m = _SURROGATE.search(text)
    return m and f"not valid UTF-8 (byte 0x{ord(m.group()) - 0xdc00:02x}; save the file as UTF-8)"


def _read_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    for lineno, row, error in iter_jsonl(path):
        yield f"{path}:{lineno}", RowError(error) if error else row


def _list_start(text: str, key: str) -> int | None:
    m = re.search(rf'"{re.escape(key)}"\s*:\s*\[', text)
    return m.end() - 1 if m else None


def _element_lines(text: str, start: int | None, n: int) -> list[int] | None:
    """Line numbers of the elements of the JSON array starting at `text[start]`."""
    if start is None:
        return None
    dec, pos, lines = json.JSONDecoder(), start + 1, []
    ws = re.compile(r"[\s,]*")
    try:
        while len(lines) < n:
            pos = ws.match(text, pos).end()
            lines.append(text.count("\n", 0, pos) + 1)
            _, pos = dec.raw_decode(text, pos)
    except json.JSONDecodeError:
        return None
    return lines


def _read_hf(source: Source) -> Iterator[tuple[str, Any]]:
    name, _, config = source.path[3:].partition(":")
    shown = f"{name}" + (f" (config {config!r})" if config else "") + f", split {source.hf_split!r}"
    try:
        import datasets
    except ImportError:
        raise LaiError(f"Hugging Face dataset {shown}: the `datasets` package is not installed "
                       f"(pip install datasets), or use a local JSONL file") from None
    try:
        ds = datasets.load_dataset(name, config or None, split=source.hf_split)
    except Exception as e:  # noqa: BLE001  (datasets raises many types: network, name, split)
        why = " ".join(str(e).split())[:300] or type(e).__name__
        raise LaiError(
            f"could not load Hugging Face dataset {shown}: {type(e).__name__}: {why}. Check the "
            f"name, config and split, and that the Hub is reachable (offline, a dataset must "
            f"already be in the HF cache), or export it to JSONL and set task.options.path"
        ) from None
    for i, row in enumerate(ds):
        yield f"hf:{name}[{source.hf_split}]#{i}", dict(row)


# ---------------------------------------------------------------- rows


def rename(row: dict, fields: dict[str, str]) -> dict:
    """Copy of `row` with `fields` (task name → source column) applied."""
    out = dict(row)
    for name, column in fields.items():
        if column in row:
            out[name] = row[column]
        else:
            out.pop(name, None)
    return out


def get_field(row: dict, name: str, kind: type | tuple = str, *, aliases: tuple[str, ...] = (),
              required: bool = True, nonempty: bool = True) -> Any:
    """A row's field (or the first alias present), type-checked.

    Raises:
        RowError: missing (when `required`), wrong type, or empty (when `nonempty`).
    """
    for key in (name, *aliases):
        if key in row and row[key] is not None:
            value = row[key]
            break
    else:
        if not required:
            return None
        also = f" (or {', '.join(repr(a) for a in aliases)})" if aliases else ""
        raise RowError(f"missing field {name!r}{also}", field=name)
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in _kinds(kind):
        want = " or ".join(k.__name__ for k in _kinds(kind))
        raise RowError(f"field {key!r} should be {want}, got {type(value).__name__}", field=name)
    if nonempty and isinstance(value, str) and not value.strip():
        raise RowError(f"field {key!r} is empty", field=name)
    return value


def _kinds(kind: type | tuple) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def optional_text(row: dict, *names: str) -> str | None:
    """The first of `names` holding non-empty text (a number is shown as text), else None."""
    for name in names:
        value = row.get(name)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def item_id(row: dict, default_id: str, task: str) -> str:
    """A row's `id` (else `task_id`) as text, a number prefixed with the task name; `default_id`
    when it has none."""
    value = row.get("id", row.get("task_id"))
    if value is None or isinstance(value, bool) or str(value).strip() == "":
        return default_id
    if isinstance(value, (int, float)):
        return f"{task}-{value}"
    if not isinstance(value, str):
        raise RowError(f"field 'id' should be a string or number, got {type(value).__name__}", field="id")
    return value.strip()


@dataclass
class LoadedSource:
    source: Source
    items: list[Item]
    bad: list[str]  # "file:line: reason"
    n_bad: int
    skipped: dict[str, int]


def load_source(source: Source, convert: Callable[[dict, str], Item], *, fields: dict[str, str],
                on_bad_row: str, id_prefix: str, task: str) -> LoadedSource:
    """Read a source and convert its rows to items.

    Args:
        convert: `convert(row, default_id) -> item`; raises `RowError` for a bad row and
            `RowSkip` for a row the task leaves out on purpose.
        fields: task field name → source column.
        on_bad_row: `fail` (a `LaiError` naming file:line) or `skip` (counted, listed).
        id_prefix: ids of rows without an `id` are `<id_prefix>-<n>` (n: the row's position).

    Raises:
        LaiError: a bad row with `fail`, or no usable row at all.
    """
    items, bad, n_bad, skipped, seen = [], [], 0, {}, {}
    for n, (where, raw) in enumerate(read_source(source)):
        try:
            if isinstance(raw, Exception):
                raise raw
            if not isinstance(raw, dict):
                raise RowError(f"expected a JSON object, got {type(raw).__name__}")
            item = convert(rename(raw, fields), f"{id_prefix}-{n}")
            if item["id"] in seen:
                raise RowError(f"duplicate id {item['id']!r} (first at {seen[item['id']]})")
        except RowSkip as e:
            skipped[str(e)] = skipped.get(str(e), 0) + 1
            continue
        except RowError as e:
            reason = str(e)
            if e.field in fields and fields[e.field] != e.field:
                reason += f" (task.options.fields maps {e.field!r} to column {fields[e.field]!r})"
            if on_bad_row == "fail":
                raise LaiError(f"task {task!r}: {where}: bad row: {reason} (set "
                               f"task.options.on_bad_row: skip to skip such rows)") from None
            n_bad += 1
            if len(bad) < _MAX_BAD_LISTED:
                bad.append(f"{where}: {reason}")
            continue
        seen[item["id"]] = where
        items.append(item)
    if not items:
        first = f"; first: {bad[0]}" if bad else ""
        raise LaiError(f"task {task!r}: no usable rows in {source.label()} ({n_bad} bad, "
                       f"{sum(skipped.values())} skipped{first})")
    return LoadedSource(source, items, bad, n_bad, skipped)


# ---------------------------------------------------------------- division


def _order_key(seed: int, item_id: str) -> str:
    return hashlib.sha1(f"{seed}:{item_id}".encode()).hexdigest()


def divide(ids: list[str], fractions: dict[str, float], seed: int) -> dict[str, list[str]]:
    """Cut ids into the named parts by `fractions` (renormalized), deterministically.

    Ids are ordered by `sha1(f"{seed}:{id}")`, so the division does not depend on the order of
    the input and a part's order is a seeded shuffle (any prefix is a random sample). Counts
    use largest remainders; every part gets at least one id when there are enough.
    """
    total = sum(fractions.values())
    order = sorted(ids, key=lambda i: _order_key(seed, i))
    n = len(order)
    exact = {s: n * f / total for s, f in fractions.items()}
    counts = {s: int(v) for s, v in exact.items()}
    by_remainder = sorted(exact, key=lambda s: (counts[s] - exact[s], list(fractions).index(s)))
    for s in by_remainder[: n - sum(counts.values())]:
        counts[s] += 1
    for s in counts:
        if counts[s] == 0 and n >= len(counts):
            donor = max(counts, key=counts.get)
            counts[donor] -= 1
            counts[s] += 1
    parts, start = {}, 0
    for s in fractions:
        parts[s] = order[start:start + counts[s]]
        start += counts[s]
    return parts


# ---------------------------------------------------------------- the task base


class SourcedTask:
    """Base of file- or dataset-backed tasks: source options, splits, `load`, `split_info`.

    A mixin, listed before `Task` (`class MathTask(SourcedTask, Task)`) so that its `load` and
    `split_info` are the ones used. Subclasses set `name`, `family`, `defaults` (split → file
    under the data folder; splits sharing one file divide it) and implement `convert(row, default_id) -> Item`. The built-in
    benchmark tasks skip bad rows by default (`default_on_bad_row = "skip"`: the shared MBPP
    test file has two corrupted rows), the generic `*_jsonl` tasks fail on them.
    """

    name: ClassVar[str] = "sourced"
    version: ClassVar[int] = 1
    family: ClassVar[str] = ""
    defaults: ClassVar[dict[str, str]] = {}
    default_fractions: ClassVar[dict[str, float]] = DEFAULT_FRACTIONS
    default_on_bad_row: ClassVar[str] = "fail"

    def __init__(self, *, path: str | None = None, paths: dict[str, Any] | None = None,
                 split: str | None = None, key: str | None = None,
                 fields: dict[str, str] | None = None, on_bad_row: str | None = None, seed: int = 0,
                 fractions: dict[str, float] | None = None, **unknown: Any):
        if unknown:
            self._unknown_option(unknown)
        where = f"task {self.name!r}: "
        on_bad_row = self.default_on_bad_row if on_bad_row is None else on_bad_row
        if path is not None and paths is not None:
            raise LaiError(f"{where}give option path (one source, divided) or paths (one per "
                           f"split), not both")
        if on_bad_row not in BAD_ROW_MODES:
            raise LaiError(f"{where}option on_bad_row must be 'fail' or 'skip', got {on_bad_row!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise LaiError(f"{where}option seed must be an integer, got {seed!r}")
        if split is not None and not isinstance(split, str):
            raise LaiError(f"{where}option split must be a string (a Hugging Face split), got {split!r}")
        if key is not None and not isinstance(key, str):
            raise LaiError(f"{where}option key must be a string, got {key!r}")
        self.fields = self._check_fields(fields)
        self.fractions = self._check_fractions(fractions)
        self.on_bad_row, self.seed = on_bad_row, seed
        if paths is not None:
            if not isinstance(paths, dict):
                raise LaiError(f"{where}option paths must map each split (mining, validation, "
                               f"test) to a source, got {type(paths).__name__}")
            bad = sorted(set(paths) - set(SPLITS))
            missing = [s for s in SPLITS if s not in paths]
            if bad or missing:
                raise LaiError(f"{where}option paths: " + (f"unknown split(s) {bad}; " if bad else "")
                               + (f"missing split(s) {missing}; " if missing else "")
                               + "give a source for each of mining, validation, test (splits "
                               "naming the same source divide it)")
            self._specs: dict[str, Source] | None = {
                s: parse_source(paths[s], f"paths.{s}", hf_split=split, key=key, base=where)
                for s in SPLITS}
        elif path is not None:
            src = parse_source(path, "path", hf_split=split, key=key, base=where)
            self._specs = {s: src for s in SPLITS}
        else:
            self._specs = None  # the built-in default files, resolved at first load
        self._splits: dict[str, list[Item]] | None = None
        self._info: dict | None = None

    # -------------------------------------------------------------- options

    def _unknown_option(self, unknown: dict) -> None:
        valid = set()
        for cls in type(self).__mro__:
            if "__init__" in vars(cls):
                valid |= {p.name for p in inspect.signature(cls.__init__).parameters.values()
                          if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD}
        valid.discard("self")
        name = sorted(unknown)[0]
        close = difflib.get_close_matches(name, valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise LaiError(f"task {self.name!r}: unknown option {name!r}{hint}; valid options: "
                       f"{', '.join(sorted(valid))}")

    def _check_fields(self, fields: Any) -> dict[str, str]:
        if fields is None:
            return {}
        if not isinstance(fields, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
            raise LaiError(f"task {self.name!r}: option fields must map task field names to "
                           f"column names (e.g. {{question: problem, answer: solution}}), got {fields!r}")
        return dict(fields)

    def _check_fractions(self, fractions: Any) -> dict[str, float]:
        if fractions is None:
            return dict(self.default_fractions)
        if not isinstance(fractions, dict) or set(fractions) - set(SPLITS):
            raise LaiError(f"task {self.name!r}: option fractions must map splits (mining, "
                           f"validation, test) to positive numbers, got {fractions!r}")
        out = dict(self.default_fractions)
        for s, f in fractions.items():
            if isinstance(f, bool) or not isinstance(f, (int, float)) or f <= 0:
                raise LaiError(f"task {self.name!r}: option fractions.{s} must be a number > 0, got {f!r}")
            out[s] = float(f)
        return out

    # -------------------------------------------------------------- splits

    def convert(self, row: dict, default_id: str) -> Item:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sources(self) -> dict[str, Source]:
        if self._specs is not None:
            return self._specs
        if not self.defaults:
            raise LaiError(f"task {self.name!r}: no data source; set task.options.path (a JSONL/"
                           f"JSON file or hf:<name>[:<config>]) or task.options.paths per split")
        return {s: Source(default_path(self.name, self.defaults[s])) for s in SPLITS}

    def _build(self) -> dict[str, list[Item]]:
        if self._splits is not None:
            return self._splits
        sources = self._sources()
        groups: dict[Source, list[str]] = {}
        for s in SPLITS:
            groups.setdefault(sources[s], []).append(s)
        splits: dict[str, list[Item]] = {}
        info: dict[str, Any] = {"task": self.name, "version": self.version, "family": self.family,
                                "seed": self.seed, "on_bad_row": self.on_bad_row,
                                "fields": self.fields, "splits": {}, "sources": []}
        for source, names in groups.items():
            loaded = load_source(source, self.convert, fields=self.fields,
                                 on_bad_row=self.on_bad_row, task=self.name,
                                 id_prefix=f"{self.name}-{source.stem()}")
            record: dict[str, Any] = {
                "source": source.label(), "splits": names, "rows": len(loaded.items),
                "bad_rows": loaded.n_bad, "bad": loaded.bad, "skipped": loaded.skipped}
            if len(names) == 1:
                splits[names[0]] = loaded.items
            else:
                fractions = {s: self.fractions[s] for s in names}
                parts = divide([it["id"] for it in loaded.items], fractions, self.seed)
                by_id = {it["id"]: it for it in loaded.items}
                for s in names:
                    splits[s] = [by_id[i] for i in parts[s]]
                total = sum(fractions.values())
                record["division"] = {
                    "method": "items ordered by sha1(f'{seed}:{id}'), cut by fractions",
                    "seed": self.seed, "fractions": {s: round(f / total, 6) for s, f in fractions.items()},
                    "counts": {s: len(parts[s]) for s in names}, "ids": parts}
            info["sources"].append(record)
            for s in names:
                info["splits"][s] = {"source": source.label(), "n": len(splits[s]),
                                     "divided": len(names) > 1}
        for s in SPLITS:
            if not splits[s]:
                raise LaiError(f"task {self.name!r}: split {s} is empty ({sources[s].label()} has "
                               f"too few rows for its share; check task.options.fractions)")
        self._splits, self._info = splits, info
        return splits

    def load(self, split: str, limit: int | None = None) -> list[Item]:
        """Items of `mining`, `validation` or `test`: a whole file in its order, or a divided
        file's share in seeded order; the first `limit` of them."""
        if split not in SPLITS:
            raise LaiError(f"{self.name}: unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return [json.loads(json.dumps(it)) for it in self._build()[split][:limit]]

    def split_info(self) -> dict:
        """Where each split came from, how shared sources were divided (seed, fractions,
        counts, ids per split), and the bad and skipped rows. JSON-serializable."""
        self._build()
        return json.loads(json.dumps(self._info))
