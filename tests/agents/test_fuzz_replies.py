"""Fuzzing the reply parsers: whatever an instructor sends back, they return what they document
(a value or None; items and rejects) and raise nothing."""

import json

import pytest
from hypothesis import example, given

from lai.agents.replies import extract_json, format_details, parse_analysis, parse_details, parse_samples
from lai.tools.tasks import get_task, task_names
from tests.fuzz import FUZZ, REPLIES

TASKS = [name for name in task_names() if name != "mixed"]  # mixed parses with each item's own task
DEEP = "[" * 5000  # deeper than the JSON decoder's recursion limit


@FUZZ
@given(REPLIES)
@example(DEEP)
@example('{"samples": ' + DEEP)
def test_extract_json_and_parse_analysis(reply):
    extract_json(reply)
    analysis = parse_analysis(reply)
    if analysis is not None:
        assert isinstance(analysis["diagnosis"], str) and len(analysis["diagnosis"]) >= 3
        assert isinstance(analysis["category"], str) and isinstance(analysis["skill"], str)
        assert isinstance(analysis.get("details", {}), dict)


@FUZZ
@given(REPLIES)
def test_parse_details_inverts_format_details(text):
    details = parse_details(text)
    assert isinstance(details, dict)
    assert parse_details(format_details(details)) == details or any(
        ";" in str(k) + str(v) or "=" in str(k) for k, v in details.items())


SURROGATES = ('{"samples": [{"question": "What is 1 + 1?\\ud800", "solution": "1 + 1 = 2\\udfff", '
              '"answer": "2", "options": ["1", "2\\ud800"], "prompt": "def f():\\ud800", '
              '"tests": ["assert f() is None"], "entry_point": "f"}]}')


def _utf8(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a raw lone surrogate: no HTTP reply holds one
        return False
    return True


@pytest.mark.parametrize("name", TASKS)
@FUZZ
@given(reply=REPLIES)
@example(reply=DEEP)
@example(reply=SURROGATES)
def test_parse_samples(name, reply):
    task = get_task(name)
    items, rejects = parse_samples(task, reply)
    for item in items:
        assert isinstance(item, dict) and {"id", "question", "answer", "target"} <= set(item), item
        assert isinstance(task.signature(item), str)
        if _utf8(reply):  # what a reply's JSON escapes hold can be written as UTF-8
            json.dumps(item, ensure_ascii=False).encode("utf-8")
    for reject in rejects:
        assert isinstance(reject["text"], str) and isinstance(reject["reason"], str) and reject["reason"]
