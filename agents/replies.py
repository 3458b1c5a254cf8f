"""Reading instructor replies: JSON matching the schemas first, the paper's free text second.

Endpoints with structured output return JSON; others, and weaker models, answer in whatever
shape they like (`Diagnosis: …`, markdown bold headers, numbered `1. Question: … Answer: …
#### N`, code fences, a reply cut off at `max_tokens`). Everything that can be read is used;
what cannot is returned as a reject with the reason and the raw text, never raised.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from langchain_core.utils.json import parse_partial_json
from pydantic import BaseModel, Field, ValidationError

from lai.tools.tasks.base import Item, Task


class Analysis(BaseModel):
    """The analyst's reply."""

    diagnosis: str = Field(min_length=3)
    category: str = "unknown"
    skill: str = ""
    details: dict[str, Any] = {}
    """The slip's particulars the generator aims at, e.g. {"column": "tens", "across_zero": true}."""


class MathSample(BaseModel):
    question: str
    solution: str
    answer: str | float | int
    python: str | None = None


class ChoiceSample(BaseModel):
    question: str
    options: list[str] | dict[str, str]
    answer: str
    explanation: str = ""


class CodeSample(BaseModel):
    prompt: str
    solution: str
    tests: list[str] | str
    entry_point: str


SAMPLE_SCHEMAS: dict[str, type[BaseModel]] = {
    "math": MathSample, "multiple_choice": ChoiceSample, "code": CodeSample,
}


def samples_schema(family: str) -> dict:
    """JSON schema of a generator reply, `{"samples": [...]}`, for `response_format`."""
    item = SAMPLE_SCHEMAS[family].model_json_schema()
    return {"title": f"{family}_samples", "type": "object", "required": ["samples"],
            "properties": {"samples": {"type": "array", "items": item}}}


def analysis_schema() -> dict:
    return {**Analysis.model_json_schema(), "title": "error_analysis"}


# ---------------------------------------------------------------------- JSON


_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)(?:```|\Z)", re.S)


def extract_json(text: str | None) -> Any:
    """The first JSON object or array in a reply (fenced or bare, complete or cut off), or None.

    A lone surrogate escape (`"\\ud800"`) is read as U+FFFD: no UTF-8 file, hash or SQLite
    row can hold one."""
    if not text:
        return None
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        start = min((i for i in (candidate.find("{"), candidate.find("[")) if i >= 0), default=-1)
        if start < 0:
            continue
        body = candidate[start:].strip()
        value = _decode(body)
        if value is not None:
            return _no_surrogates(value, body)
    return None


def _decode(body: str) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, RecursionError):  # RecursionError: nested thousands deep
        pass
    try:
        return json.JSONDecoder().raw_decode(body)[0]  # JSON followed by chatter
    except (json.JSONDecodeError, RecursionError):
        pass
    try:
        return parse_partial_json(body)  # cut off mid-reply: keep what is complete
    except Exception:  # noqa: BLE001 - not JSON after all
        return None


_SURROGATE = re.compile("[\ud800-\udfff]")
_MAY_HOLD_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")


def _no_surrogates(value: Any, text: str) -> Any:
    """`value`, parsed from `text`, with each lone surrogate in its strings (keys too) replaced
    by U+FFFD, in place. A loop, not recursion: the JSON may be nested near the recursion limit."""
    if not _MAY_HOLD_SURROGATE.search(text):
        return value
    fix = lambda v: _SURROGATE.sub("\ufffd", v) if isinstance(v, str) else v  # noqa: E731
    root = [value]
    stack: list = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            pairs = [(fix(k), fix(v)) for k, v in node.items()]
            node.clear()
            node.update(pairs)
        else:
            node[:] = map(fix, node)
        stack += [v for v in (node.values() if isinstance(node, dict) else node) if isinstance(v, (list, dict))]
    return root[0]


# ---------------------------------------------------------------------- analyses

_FIELD = re.compile(
    r"^[ \t>*#-]*\**(diagnosis|category|skill|details)(?: to practi[sc]e)?\**[ \t]*[:：]\**[ \t]*(.*)$",
    re.IGNORECASE | re.MULTILINE)


def format_details(details: dict) -> str:
    """`column=tens; across_zero=yes`: the details on one line (prompts, `Details:` replies)."""
    show = lambda v: "yes" if v is True else "no" if v is False else str(v)  # noqa: E731
    return "; ".join(f"{k}={show(v)}" for k, v in (details or {}).items()) or "none"


def parse_details(text: str | None) -> dict:
    """Inverse of `format_details`; words without `=` are dropped."""
    out: dict = {}
    for part in (text or "").split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            value = value.strip()
            out[key.strip()] = (True if value == "yes" else False if value == "no" else
                                int(value) if re.fullmatch(r"-?\d+", value) else value)
    return out


def parse_analysis(reply: str | None) -> dict | None:
    """Diagnosis, category, skill and details from JSON or from `Diagnosis: …` lines; None
    without a diagnosis."""
    data = extract_json(reply)
    if isinstance(data, dict):
        try:
            a = Analysis.model_validate({k.lower(): v for k, v in data.items()})
        except ValidationError:
            a = None
        if a is not None and not _placeholder(a.diagnosis):
            return {"diagnosis": a.diagnosis.strip(),
                    "category": "unknown" if _placeholder(a.category) else a.category.strip() or "unknown",
                    "skill": "" if _placeholder(a.skill) else a.skill.strip(),
                    "details": {k: v for k, v in a.details.items() if not str(k).startswith("<")}}
        if a is not None:
            return None  # the template's own `<...>` echoed back: no analysis
    found: dict[str, str] = {}
    for key, value in _FIELD.findall(reply or ""):
        value = value.strip().strip("*").strip()
        if value:
            found.setdefault(key.lower(), value)
    if len(found.get("diagnosis", "")) < 3:
        return _prose_analysis(reply)
    return {"diagnosis": found["diagnosis"], "category": found.get("category", "unknown"),
            "skill": found.get("skill", ""), "details": parse_details(found.get("details"))}


def _placeholder(text: str) -> bool:
    """A weak model copying the prompt's `<one or two sentences: ...>` slot instead of filling it."""
    return text.strip().startswith("<") and ">" in text


def _prose_analysis(reply: str | None) -> dict[str, str] | None:
    """A reply in plain prose, as the paper's instructors wrote them: the whole text is the
    diagnosis (category `unstructured`). Not for JSON gone wrong or a one-line refusal."""
    text = (reply or "").strip()
    if len(text) < 40 or text[0] in "{[" or text.startswith("```") or _REFUSAL.match(text):
        return None
    return {"diagnosis": " ".join(text.split())[:800], "category": "unstructured", "skill": ""}


_REFUSAL = re.compile(r"(?i)^(sorry|i('m| am) (sorry|unable)|i can(no|')t|as an ai)")


# ---------------------------------------------------------------------- samples


def parse_samples(task: Task, reply: str | None) -> tuple[list[Item], list[dict]]:
    """New items from a generator reply, and the parts that could not be read (with reasons).

    JSON (`{"samples": [...]}` or a bare list) goes through the family schema and
    `task.from_fields`; anything else through the task's own free-text parser.
    """
    data = extract_json(reply)
    if isinstance(data, dict):
        data = data.get("samples", data.get("problems", [data] if data else None))
    if isinstance(data, list) and data and all(isinstance(d, dict) for d in data):
        return _from_json(task, data)
    items, rejects = task.parse_with_rejects(reply or "")
    if not items and not rejects:
        rejects = [{"text": (reply or "")[:2000], "reason": "no sample could be read from the reply"}]
    return items, rejects


def _from_json(task: Task, rows: list[dict]) -> tuple[list[Item], list[dict]]:
    schema = SAMPLE_SCHEMAS.get(task.family)
    items, rejects = [], []
    for row in rows:
        raw = json.dumps(row, ensure_ascii=False)[:2000]
        try:
            fields = schema.model_validate(row).model_dump() if schema else row
        except ValidationError as e:
            missing = ", ".join(".".join(map(str, err["loc"])) for err in e.errors())
            rejects.append({"text": raw, "reason": f"sample does not match the schema: {missing}"})
            continue
        if isinstance(fields.get("options"), list):  # ["...", ...] → {"A": ..., ...}
            fields["options"] = {chr(65 + i): str(o) for i, o in enumerate(fields["options"])}
        item = task.from_fields(fields)
        if item is None:
            rejects.append({"text": raw, "reason": f"task {task.name!r} cannot build an item from it"})
            continue
        item.setdefault("id", "gen-" + hashlib.sha1(raw.encode()).hexdigest()[:10])
        items.append(item)
    return items, rejects
