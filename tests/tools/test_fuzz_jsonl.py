"""Fuzzing the JSONL reader and writer: any bytes give rows or a LaiError naming the file and
line, and whatever JSON a model sends back (lone surrogates included) is written and read back."""

import math
from unittest import mock

from hypothesis import example, given, settings
from hypothesis import strategies as st

from lai.tools.errors import LaiError
from lai.tools.jsonl import iter_jsonl, read_jsonl, write_jsonl
from tests.fuzz import FUZZ, JSON_TEXT, JSON_VALUES


def _encode(line):
    return line.encode("utf-8", "surrogatepass")


@FUZZ
@given(st.binary(max_size=200) | st.lists(
    st.binary(max_size=40) | JSON_TEXT.map(_encode) | st.sampled_from(
        [b"", b"\xef\xbb\xbf{}", b"{}", b"[", b"\xff", b"\xc3", b'{"a": 1}\r', b"\x00", b"\xed\xa0\x80"]),
    max_size=8).map(b"\n".join))
@example(b"[" * 5000)
@example(b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}")
def test_any_bytes_read_as_rows_or_a_located_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "data.jsonl"
    path.write_bytes(data)
    for lineno, value, error in iter_jsonl(path):
        assert isinstance(lineno, int) and lineno >= 1
        assert (value is None) if error else (error is None)
    try:
        rows = read_jsonl(path)
    except LaiError as e:
        assert str(e).startswith(f"{path}:")
    else:
        assert all(isinstance(r, dict) for r in rows)


def _no_nan(value):
    return not (isinstance(value, float) and math.isnan(value)) and (
        all(map(_no_nan, value.values())) if isinstance(value, dict) else
        all(map(_no_nan, value)) if isinstance(value, list) else True)


@settings(FUZZ, max_examples=60)  # nested JSON values are slow to draw
@given(st.lists(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4).filter(_no_nan), max_size=4))
@example([{"question": "\ud800", "answer": "x\udfff"}])
def test_rows_round_trip(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("fuzz") / "rows.jsonl"
    with mock.patch("os.fsync"):  # durability is not the point here, and fsync is slow
        write_jsonl(path, rows)
    assert read_jsonl(path) == rows
