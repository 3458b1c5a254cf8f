"""Hypothesis strategies for the fuzz tests: plain text, and text built from the pieces the
parsers look for (labels, fences, numbers, option letters, JSON), which reaches far deeper into
them than random characters do. Example counts stay small so each test takes a second or two."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PIECES = [
    "\n", "\n\n", " ", "  ", "\t", ":", "**", "#", "####", "#### ", "```", "```python\n", "```json\n",
    "{", "}", "[", "]", "(", ")", "\"", "'", ",", ".", "=", "+", "-", "*", "/", "$", "%", "\\", ">",
    "Question:", "Q:", "Answer:", "A:", "Final answer:", "The answer is ", "**Answer: ", "\\boxed{",
    "Solution:", "Problem 1.", "1. ", "2) ", "Explanation:", "Options:", "Skill:", "Tests:",
    "Diagnosis:", "Category:", "Details:", "column=tens; across_zero=yes",
    "A)", "B.", "(C)", "[D]", "E:", "answer is (B)", "def f(x):\n    return x\n", "assert f(1) == 1",
    "entry_point:", "import os\n", "if __name__ == '__main__':\n", "<<2*3=6>>",
    "0", "7", "-3", "12", "3.5", "1/2", "1,000", "1e309", "99999999999999999999999", "½", "٣",
    "NaN", "inf", "é", "\u200b", "\x00", "\ud800",
    '"samples"', '"question"', '"answer"', '"solution"', '"options"', '"prompt"', '"tests"',
    '"entry_point"', '"diagnosis"', '"details"', "null", "true", "\\ud800", "\\u0000",
]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.sampled_from(["\ud800", "12", "A", "def f(x): return x", "<slot>"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["samples", "question", "solution", "answer", "python", "options", "explanation",
                         "prompt", "tests", "entry_point", "diagnosis", "category", "skill", "details"])
        | st.text(max_size=8), children, max_size=6),
    max_leaves=20)
JSON_TEXT = st.builds(lambda value, ascii_only: json.dumps(value, ensure_ascii=ascii_only), JSON_VALUES, st.booleans())

REPLIES = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=40).map("".join),
    JSON_TEXT,
    st.tuples(st.text(max_size=30), JSON_TEXT, st.sampled_from(["", "```", "\nthanks"]))
    .map(lambda t: f"{t[0]}```json\n{t[1]}{t[2]}"),
)
"""Text a model might send back, and much it would not."""
