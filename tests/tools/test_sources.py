"""Sources: local JSONL/JSON files, field mapping, bad rows, seeded split division, HF names."""

import codecs
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from lai.tools.errors import LaiError
from lai.tools.sources import SPLITS, divide
from lai.tools.tasks import get_task
from tests.benchmark_data import FULL



def _problem(i: int) -> dict:
    return {"question": f"Ann has {i} apples and buys 2 more. How many now?",
            "answer": f"{i} + 2 = {i + 2}\n#### {i + 2}"}


def _write_jsonl(path, rows, raw_lines=()):
    lines = [json.dumps(r) for r in rows]
    for at, text in raw_lines:
        lines.insert(at, text)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def gsm_file(tmp_path):
    return _write_jsonl(tmp_path / "mine.jsonl", [_problem(i) for i in range(40)])


# ---------------------------------------------------------------- loading


def test_jsonl_loads_and_divides_all_rows(gsm_file):
    task = get_task("math_jsonl", path=str(gsm_file))
    splits = {s: task.load(s) for s in SPLITS}
    assert {s: len(v) for s, v in splits.items()} == {"mining": 20, "validation": 8, "test": 12}
    ids = [it["id"] for v in splits.values() for it in v]
    assert len(set(ids)) == 40 and all(i.startswith("math_jsonl-mine-") for i in ids)
    item = splits["test"][0]
    assert item["target"] == str(int(item["id"].rsplit("-", 1)[1]) + 2)
    assert task.load("test", limit=5) == splits["test"][:5]


def test_json_list_and_object_with_key(tmp_path):
    rows = [_problem(i) for i in range(10)]
    (tmp_path / "list.json").write_text(json.dumps(rows, indent=2))
    (tmp_path / "obj.json").write_text(json.dumps({"meta": {"v": 1}, "data": rows}, indent=2))
    (tmp_path / "two.json").write_text(json.dumps({"a": rows, "b": rows}))
    n = lambda t: sum(len(t.load(s)) for s in SPLITS)  # noqa: E731
    assert n(get_task("math_jsonl", path=str(tmp_path / "list.json"))) == 10
    assert n(get_task("math_jsonl", path=str(tmp_path / "obj.json"))) == 10  # the one list found
    assert n(get_task("math_jsonl", path=str(tmp_path / "two.json"), key="b")) == 10
    with pytest.raises(LaiError, match=r"two\.json.*key.*task\.options\.key"):
        get_task("math_jsonl", path=str(tmp_path / "two.json")).load("test")


def test_field_mapping(tmp_path):
    rows = [{"problem": _problem(i)["question"], "solution": _problem(i)["answer"], "uid": f"u{i}"}
            for i in range(6)]
    path = _write_jsonl(tmp_path / "other.jsonl", rows)
    task = get_task("math_jsonl", path=str(path),
                    fields={"question": "problem", "answer": "solution", "id": "uid"})
    items = [it for s in SPLITS for it in task.load(s)]
    assert sorted(it["id"] for it in items) == [f"u{i}" for i in range(6)]
    assert all(it["question"].startswith("Ann has") for it in items)
    # Without the mapping every row lacks `question`: the error names file, line and field.
    with pytest.raises(LaiError, match=r"other\.jsonl:1: bad row: missing field 'question'"):
        get_task("math_jsonl", path=str(path)).load("test")
    # A mapping to a column that does not exist says so.
    with pytest.raises(LaiError, match=r"maps 'question' to column 'prob'"):
        get_task("math_jsonl", path=str(path), fields={"question": "prob"}).load("test")


def _bad_file(tmp_path):
    rows = [_problem(i) for i in range(12)]
    rows[3] = {"question": "no answer field"}
    rows[5] = {"question": ["not", "text"], "answer": "#### 3"}
    rows[7] = {"question": "Solve it", "answer": "no final line"}
    return _write_jsonl(tmp_path / "bad.jsonl", rows, raw_lines=[(9, "{not json"), (11, "[1, 2]")])


def test_bad_row_fail_names_file_and_line(tmp_path):
    path = _bad_file(tmp_path)
    with pytest.raises(LaiError) as e:
        get_task("math_jsonl", path=str(path)).load("mining")
    assert f"{path}:4: bad row: missing field 'answer'" in str(e.value)
    assert "on_bad_row: skip" in str(e.value)


def test_bad_row_skip_counts_and_lists(tmp_path):
    path = _bad_file(tmp_path)
    task = get_task("math_jsonl", path=str(path), on_bad_row="skip")
    assert sum(len(task.load(s)) for s in SPLITS) == 9
    record = task.split_info()["sources"][0]
    assert record["bad_rows"] == 5
    where = [b.split(": ", 1)[0] for b in record["bad"]]
    assert where == [f"{path}:{n}" for n in (4, 6, 8, 10, 12)]
    reasons = " | ".join(record["bad"])
    for text in ("missing field 'answer'", "field 'question' should be str, got list",
                 "no final answer", "not valid JSON", "expected a JSON object, got list"):
        assert text in reasons


def test_bad_element_in_json_array_has_its_line(tmp_path):
    rows = [_problem(i) for i in range(5)]
    rows[2] = {"question": "x"}
    path = tmp_path / "arr.json"
    path.write_text(json.dumps(rows, indent=2))
    with pytest.raises(LaiError, match=r"arr\.json:\d+: bad row: missing field 'answer'") as e:
        get_task("math_jsonl", path=str(path)).load("test")
    line = int(str(e.value).split("arr.json:")[1].split(":")[0])
    assert path.read_text().splitlines()[line - 1].strip() == "{"
    assert '"question": "x"' in path.read_text().splitlines()[line]


@pytest.mark.parametrize("suffix", ["jsonl", "json"])
def test_bytes_that_are_not_utf8_are_a_bad_row_with_its_line(tmp_path, suffix):
    """A Latin-1 row: named by file and line under `fail`, counted under `skip`; the rows after
    it still load (the file is decoded line by line / row by row, not all or nothing)."""
    rows = [json.dumps(_problem(i)).encode() for i in range(8)]
    rows[3] = rows[3].replace(b"apples", "pommes café".encode("latin-1"))
    body = b"\n".join(rows) + b"\n" if suffix == "jsonl" else b"[\n" + b",\n".join(rows) + b"\n]\n"
    path = tmp_path / f"latin1.{suffix}"
    path.write_bytes(codecs.BOM_UTF8 + body)  # a BOM is fine
    line = 4 if suffix == "jsonl" else 5
    with pytest.raises(LaiError, match=rf"latin1\.{suffix}:{line}: bad row: not valid UTF-8 \(byte 0xe9"):
        get_task("math_jsonl", path=str(path)).load("test")
    task = get_task("math_jsonl", path=str(path), on_bad_row="skip")
    assert sum(len(task.load(s)) for s in SPLITS) == 7
    record = task.split_info()["sources"][0]
    assert record["bad_rows"] == 1 and record["bad"][0].startswith(f"{path}:{line}: not valid UTF-8")


def test_a_json_document_broken_by_a_bad_byte_says_so(tmp_path):
    path = tmp_path / "broken.json"
    path.write_bytes(b'[\n  {"question": "x"},\n  \xff\n]\n')
    with pytest.raises(LaiError, match=r"broken\.json:3: not valid UTF-8 \(byte 0xff"):
        get_task("math_jsonl", path=str(path)).load("test")


def test_all_rows_bad_is_an_error_even_when_skipping(tmp_path):
    path = _write_jsonl(tmp_path / "junk.jsonl", [{"q": 1}, {"q": 2}])
    with pytest.raises(LaiError, match=r"no usable rows.*2 bad"):
        get_task("math_jsonl", path=str(path), on_bad_row="skip").load("test")


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(LaiError, match="data file not found"):
        get_task("math_jsonl", path=str(tmp_path / "nope.jsonl")).load("test")


# ---------------------------------------------------------------- division


def test_division_is_seeded_deterministic_and_recorded(gsm_file, tmp_path):
    a = get_task("math_jsonl", path=str(gsm_file), seed=3)
    b = get_task("math_jsonl", path=str(gsm_file), seed=3)
    c = get_task("math_jsonl", path=str(gsm_file), seed=4)
    assert a.split_info() == b.split_info()
    assert a.load("test") == b.load("test") and a.load("test") != c.load("test")
    info = a.split_info()
    json.dumps(info)  # serializable, so the run can write it
    div = info["sources"][0]["division"]
    assert div["seed"] == 3 and div["counts"] == {"mining": 20, "validation": 8, "test": 12}
    assert div["fractions"] == {"mining": 0.5, "validation": 0.2, "test": 0.3}
    assert {s: [it["id"] for it in a.load(s)] for s in SPLITS} == div["ids"]
    all_ids = [i for ids in div["ids"].values() for i in ids]
    assert len(all_ids) == len(set(all_ids)) == 40
    assert info["splits"]["test"] == {"source": str(gsm_file), "n": 12, "divided": True}
    # The division depends on ids, not on row order: a reversed copy divides the same way.
    rows = [json.loads(x) for x in gsm_file.read_text().splitlines()]
    rows = [{**r, "id": f"math_jsonl-mine-{i}"} for i, r in enumerate(rows)][::-1]
    rev = get_task("math_jsonl", path=str(_write_jsonl(tmp_path / "rev.jsonl", rows)), seed=3)
    assert rev.split_info()["sources"][0]["division"]["ids"] == div["ids"]


def test_fractions_option(gsm_file):
    task = get_task("math_jsonl", path=str(gsm_file), fractions={"mining": 2, "validation": 1, "test": 1})
    assert [len(task.load(s)) for s in SPLITS] == [20, 10, 10]


def test_divide_counts_and_nonempty_parts():
    parts = divide([str(i) for i in range(7)], {"mining": 0.9, "validation": 0.05, "test": 0.05}, 0)
    assert {k: len(v) for k, v in parts.items()} == {"mining": 5, "validation": 1, "test": 1}
    assert divide(["a", "b", "c"], {"x": 1, "y": 1}, 0) == divide(["c", "b", "a"], {"x": 1, "y": 1}, 0)


def test_per_split_paths_share_and_divide(tmp_path):
    train = _write_jsonl(tmp_path / "train.jsonl", [_problem(i) for i in range(10)])
    test = _write_jsonl(tmp_path / "test.jsonl", [_problem(100 + i) for i in range(20)])
    task = get_task("math_jsonl", paths={"mining": str(train), "validation": str(test),
                                         "test": {"path": str(test)}})
    assert [len(task.load(s)) for s in SPLITS] == [10, 8, 12]  # 0.2 : 0.3 of the test file
    info = task.split_info()
    assert info["splits"]["mining"] == {"source": str(train), "n": 10, "divided": False}
    assert "division" not in info["sources"][0]
    assert info["sources"][1]["division"]["counts"] == {"validation": 8, "test": 12}
    assert [it["id"] for it in task.load("mining")] == [f"math_jsonl-train-{i}" for i in range(10)]


# ---------------------------------------------------------------- options


@pytest.mark.parametrize("options, message", [
    ({"pth": "x.jsonl"}, r"unknown option 'pth' \(did you mean 'path'\?\)"),
    ({"path": "x.jsonl", "on_bad_row": "ignore"}, "on_bad_row must be 'fail' or 'skip'"),
    ({"path": "x.jsonl", "fractions": {"train": 1}}, "option fractions"),
    ({"path": "x.jsonl", "fractions": {"test": 0}}, r"fractions\.test must be a number > 0"),
    ({"path": "x.jsonl", "fields": ["question"]}, "option fields must map"),
    ({"path": "x.jsonl", "seed": "zero"}, "option seed must be an integer"),
    ({"paths": {"mining": "a.jsonl", "test": "b.jsonl"}}, r"missing split\(s\) \['validation'\]"),
    ({"path": "a.jsonl", "paths": {}}, "not both"),
    ({"path": 3}, "option path: expected a file path"),
    ({"path": "x.jsonl", "non_numeric": "drop"}, "non_numeric must be 'keep' or 'skip'"),
])
def test_bad_options_name_the_option(options, message):
    with pytest.raises(LaiError, match=message):
        get_task("math_jsonl", **options)


def test_generic_task_without_path_says_how(tmp_path):
    with pytest.raises(LaiError, match="set task.options.path"):
        get_task("choice_jsonl").load("test")


def test_missing_default_file_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("LAI_DATA_DIR", str(tmp_path))
    with pytest.raises(LaiError) as e:
        get_task("gsm8k").load("test")
    msg = str(e.value)
    assert "gsm8k/test.jsonl" in msg and str(tmp_path) in msg
    assert "LAI_DATA_DIR" in msg and "task.options.path" in msg


def test_data_dir_env(tmp_path, monkeypatch):
    (tmp_path / "gsm8k").mkdir()
    _write_jsonl(tmp_path / "gsm8k" / "test.jsonl", [_problem(i) for i in range(10)])
    monkeypatch.setenv("LAI_DATA_DIR", str(tmp_path))
    assert sum(len(get_task("gsm8k").load(s)) for s in SPLITS) == 10


def test_builtin_defaults_record_their_division():
    """On the full shared files, or on their excerpts in tests/data (which keep both bad rows)."""
    gsm = get_task("gsm8k")
    info = gsm.split_info()
    assert {s: v["n"] for s, v in info["splits"].items()} == (
        {"mining": 659, "validation": 264, "test": 396} if FULL else {"mining": 12, "validation": 5, "test": 7})
    assert info["sources"][0]["source"].endswith("gsm8k/test.jsonl")
    mbpp = get_task("mbpp").split_info()
    assert mbpp["splits"]["mining"]["divided"] is False and mbpp["splits"]["mining"]["n"] == (462 if FULL else 13)
    # The shared MBPP test file has two rows with a corrupted entry_point: skipped and listed.
    assert mbpp["on_bad_row"] == "skip" and mbpp["sources"][1]["bad_rows"] == 2
    assert [b.split(": ")[0].rsplit("/", 2)[-2:] for b in mbpp["sources"][1]["bad"]] == (
        [["mbpp", "test.jsonl:370"], ["mbpp", "test.jsonl:452"]] if FULL
        else [["mbpp", "test.jsonl:13"], ["mbpp", "test.jsonl:14"]])
    assert mbpp["sources"][1]["division"]["counts"] == (
        {"validation": 199, "test": 298} if FULL else {"validation": 5, "test": 7})


# ---------------------------------------------------------------- Hugging Face


def test_hf_source_through_datasets(monkeypatch):
    """`hf:<name>[:<config>]` goes to datasets.load_dataset(name, config, split=...)."""
    import datasets

    calls = []

    def fake_load(name, config=None, split=None):
        calls.append((name, config, split))
        return [{"problem": _problem(i)["question"], "solution": _problem(i)["answer"]} for i in range(8)]

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    task = get_task("math_jsonl", path="hf:someone/gsm:main", split="train",
                    fields={"question": "problem", "answer": "solution"})
    assert sum(len(task.load(s)) for s in SPLITS) == 8
    assert calls == [("someone/gsm", "main", "train")]
    assert task.split_info()["sources"][0]["source"] == "hf:someone/gsm:main[train]"
    per_split = get_task("math_jsonl", fields={"question": "problem", "answer": "solution"}, paths={
        "mining": {"path": "hf:x", "split": "train"}, "validation": {"path": "hf:x", "split": "test"},
        "test": {"path": "hf:x", "split": "test"}})
    per_split.load("test")
    assert calls[1:] == [("x", None, "train"), ("x", None, "test")]


def test_hf_unknown_name_offline_fails_fast_and_clearly(tmp_path):
    code = textwrap.dedent("""
        from lai.tools.errors import LaiError
        from lai.tools.tasks import get_task
        try:
            get_task("math_jsonl", path="hf:lai-no-such-org/no-such-dataset", split="train").load("test")
        except LaiError as e:
            print("LAIERROR", e)
    """)
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets")}
    start = time.time()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert time.time() - start < 60
    assert "LAIERROR" in out.stdout, out.stderr[-2000:]
    assert "lai-no-such-org/no-such-dataset" in out.stdout and "Traceback" not in out.stdout
