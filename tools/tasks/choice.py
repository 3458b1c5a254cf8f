"""Multiple-choice questions from files: MMLU, ARC-Challenge and any JSONL/JSON of the same shape.

Items: `choices` = {"A": text, "B": text, ...} (2 to 8 options, letters from A in order),
`target` = the right letter, `answer` = an explanation ending "The answer is X." (the training
completion; "The answer is X." alone when the source has no explanation). Options labelled
otherwise in the source (ARC's `1`-`4`) are relabelled A, B, ... in order, the original labels
kept in `labels`; ARC's few 3- and 5-option questions keep their 3 or 5 options.

The answer letter of a reply is found, in this order (`extract_choice`):
1. the last "answer is (X)" / "answer is X" / "answer is: **X**" / "answer is option X";
2. else the last "Answer: X" / "Answer: (X)";
3. else a lone letter ending the reply: "... (C)", "... C.", "**B**", or just "D";
4. else a letter opening the reply as an option does: "C. The primary transcripts ...", "(B) ...".
Replies that only restate an option's text get no letter, so they grade wrong (re-grading
Mistral-7B's MMLU answers, 140 of 1092 "right" replies are like that; see docs/tasks.md).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from lai.tools.sources import RowError, SourcedTask, get_field, item_id, optional_text
from lai.tools.tasks.base import Item, Messages, Task, register_task
from lai.tools.tasks.blocks import cut_blocks, open_block, parse_blocks

LETTERS = "ABCDEFGH"
CHOICE_CATEGORIES = (
    "no final answer", "misread question", "missing knowledge", "wrong fact recalled",
    "reasoning error", "calculation error", "distracted by a similar option", "negation missed",
)
"""The error categories the analyst picks from (fills `{categories}` in the prompts)."""

_L = f"(?-i:[{LETTERS}])"
_ANSWER_IS = re.compile(
    rf"answer\s+is\s*[:\-]?\s*(?:option\s+|choice\s+)?[*_`]*\s*[(\[]?({_L})(?![\w'])", re.I)
_ANSWER_COLON = re.compile(
    rf"answer\s*[:\-]\s*(?:option\s+|choice\s+)?[*_`]*\s*[(\[]?({_L})(?![\w'])", re.I)
_LONE_END = re.compile(rf"(?:^|[\s(\[*_:])[(\[]?({_L})[)\]]?[*_.)\]!]*\s*$")
_LEADING = re.compile(rf"^[*_\s]*[(\[]?({_L})[.):\]](?:\s|$)")


def extract_choice(text: str | None, letters: str = LETTERS) -> str | None:
    """The option letter a reply chose, or None; see the module docstring for the order."""
    if not text:
        return None
    text = text.strip()
    for pattern in (_ANSWER_IS, _ANSWER_COLON):
        found = [m for m in pattern.finditer(text) if m[1] in letters]
        if found:
            return found[-1][1]
    for pattern in (_LONE_END, _LEADING):
        m = pattern.search(text)
        if m and m[1] in letters:
            return m[1]
    return None


def answer_text(target: str, explanation: str | None = None) -> str:
    """An explanation ending "The answer is X." (the sentence added when missing)."""
    explanation = (explanation or "").strip()
    if explanation and extract_choice(explanation.splitlines()[-1]) == target and re.search(
            r"answer\s+is", explanation.splitlines()[-1], re.I):
        return explanation
    return f"{explanation}\nThe answer is {target}.".strip()


def format_choices(choices: dict[str, str]) -> str:
    return "\n".join(f"{k}. {v}" for k, v in choices.items())


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", str(text).lower()).split())


# ---------------------------------------------------------------- rows


def _options_from_row(row: dict) -> tuple[list[str], list[Any]]:
    """(original labels, texts) of a row's options, from `choices`/`options` (dict, list, or
    {"text": [...], "label": [...]}), or from per-label columns (`label` list, else A, B, ...)."""
    raw = row.get("choices", row.get("options"))
    if raw is not None:
        if isinstance(raw, dict) and isinstance(raw.get("text"), list):
            labels = raw.get("label") or list(LETTERS[: len(raw["text"])])
            return [str(x) for x in labels], list(raw["text"])
        if isinstance(raw, dict):
            return [str(k) for k in raw], list(raw.values())
        if isinstance(raw, list):
            return list(LETTERS[: len(raw)]), list(raw)
        raise RowError(f"field 'choices' should be a list or an object, got {type(raw).__name__}",
                       field="choices")
    if isinstance(row.get("label"), list):
        labels = [str(x) for x in row["label"]]
        missing = [x for x in labels if x not in row]
        if missing:
            raise RowError(f"option column(s) {missing} named in 'label' are missing", field="choices")
        return labels, [row[x] for x in labels]
    labels = []
    for letter in LETTERS:
        if letter not in row:
            break
        labels.append(letter)
    if not labels:
        raise RowError("no options: expected a 'choices' field or columns A, B, C, ...", field="choices")
    return labels, [row[x] for x in labels]


# ---------------------------------------------------------------- parsing


_OPT_LINE = re.compile(rf"^[ \t>*\-]*[(\[]?({_L})\s*[.):\]]\s*(.*)$", re.M)
_OPT_INLINE = re.compile(rf"(?:(?<=\s)|^)[(\[]?({_L})[.)\]]\s+")
_ANS_LABEL = re.compile(
    rf"^[ \t>*\-]*(?:correct\s+)?(?:answer|key|solution)\s*(?:is)?\s*[:\-]?\s*"
    rf"(?:option\s+)?[(\[]?({_L})(?![\w'])[)\]]?[.:]?[ \t]*(.*)$", re.I | re.M)
_EXPL_LABEL = re.compile(r"^[ \t>*\-]*(?:explanation|reasoning|rationale|why)\s*:\s*", re.I | re.M)


def _options(region: str) -> dict[str, str] | None:
    """Options A, B, ... in order from the start of `region` (one per line, or inline)."""
    for pattern in (_OPT_LINE, _OPT_INLINE):
        marks = list(pattern.finditer(region))
        run = []
        for m in marks:
            if len(run) < len(LETTERS) and m[1] == LETTERS[len(run)]:
                run.append(m)
            elif run:
                break
        if len(run) >= 2:
            out = {}
            for i, m in enumerate(run):
                end = run[i + 1].start() if i + 1 < len(run) else len(region)
                start = m.end() if pattern is _OPT_INLINE else m.start(2)
                out[m[1]] = " ".join(region[start:end].split())
            return out
    return None


def parse_choice_block(block: str) -> tuple[dict | None, str]:
    """One question block → `{question, choices, target, explanation[, skill]}` or `(None, reason)`."""
    block, skill = open_block(block)
    item: dict = {"skill": skill} if skill else {}
    answer = _ANS_LABEL.search(block)
    if answer is None:
        found = list(re.finditer(rf"answer\s+is\s*[:\-]?\s*[*_`]*[(\[]?({_L})(?![\w'])", block, re.I))
        if not found:
            return None, "no answer key ('Answer: X')"
        answer = found[-1]
    cut = block.rfind("\n", 0, answer.start()) + 1 if answer.re is not _ANS_LABEL else answer.start()
    head = block[:cut]
    tail = block[answer.end():] if answer.re is _ANS_LABEL else block[cut:]
    first_a = next((m for m in _OPT_LINE.finditer(head) if m[1] == "A"), None)
    if first_a is None:
        first_a = next((m for m in _OPT_INLINE.finditer(head) if m[1] == "A"), None)
    if first_a is None:
        return None, "no options A., B., ..."
    question = " ".join(head[: first_a.start()].split())
    choices = _options(head[first_a.start():])
    if not question:
        return None, "empty question"
    if not choices:
        return None, "fewer than two options"
    target = answer[1]
    rest = (answer[2] if answer.re is _ANS_LABEL else "") or ""
    if target in choices and _norm(rest) == _norm(choices[target]):
        rest = ""
    expl = _EXPL_LABEL.search(tail)
    explanation = tail[expl.end():] if expl else (rest + "\n" + tail)
    explanation = "\n".join(ln.strip() for ln in explanation.strip().splitlines() if ln.strip())
    explanation = re.sub(rf"^[(\[]?{target}[)\]]?[.:]?\s*", "", explanation) if explanation else ""
    item.update(question=question, choices=choices, target=target, explanation=explanation)
    return item, "ok"


# ---------------------------------------------------------------- tasks


@register_task("choice_jsonl")
class ChoiceTask(SourcedTask, Task):
    """Multiple-choice questions from any JSONL/JSON file or Hugging Face dataset.

    Rows: `question`; options as a `choices` (or `options`) list / object / {"text", "label"}
    or as columns A, B, C, ... (or the columns a `label` list names); `answer` = the right
    option's label (a letter, ARC's "1"-"4", or a 0-based index); optional `explanation`,
    `subject` (→ `skill`), `id`. Options: see `SourcedTask`.
    """

    name = "choice_jsonl"
    version = 1
    family = "multiple_choice"
    categories = CHOICE_CATEGORIES

    # -------------------------------------------------------------- data

    def convert(self, row: dict, default_id: str) -> Item:
        question = get_field(row, "question")
        labels, texts = _options_from_row(row)
        if not 2 <= len(labels) <= len(LETTERS):
            raise RowError(f"expected 2 to {len(LETTERS)} options, got {len(labels)}", field="choices")
        if len(set(labels)) != len(labels):
            raise RowError(f"option labels repeat: {labels}", field="choices")
        for label, text in zip(labels, texts):
            if isinstance(text, bool) or not isinstance(text, (str, int, float)):
                raise RowError(f"option {label!r} should be text, got {type(text).__name__}",
                               field="choices")
        key = get_field(row, "answer", (str, int), aliases=("answerKey",))
        if isinstance(key, int) and str(key) not in labels:
            if not 0 <= key < len(labels):
                raise RowError(f"answer index {key} is out of range for {len(labels)} options",
                               field="answer")
            index = key
        elif str(key).strip() in labels:
            index = labels.index(str(key).strip())
        elif str(key).strip().upper() in labels:
            index = labels.index(str(key).strip().upper())
        else:
            raise RowError(f"answer {key!r} is not one of the option labels {labels}", field="answer")
        letters = LETTERS[: len(labels)]
        target = letters[index]
        explanation = optional_text(row, "explanation")
        item: Item = {"id": item_id(row, default_id, self.name), "question": question.strip(),
                      "choices": {letters[i]: str(t).strip() for i, t in enumerate(texts)},
                      "answer": answer_text(target, explanation), "target": target}
        if labels != list(letters):
            item["labels"] = labels
        if skill := optional_text(row, "skill", "subject"):
            item["skill"] = skill
        return item

    # -------------------------------------------------------------- target side

    def prompt(self, item: Item) -> Messages:
        letters = ", ".join(item["choices"])
        intro = ""
        if item.get("skill"):
            intro = f"The following is a multiple choice question about {item['skill'].replace('_', ' ')}.\n\n"
        return [{"role": "user", "content": (
            f"{intro}{item['question']}\n\n{format_choices(item['choices'])}\n\n"
            f"Think it through step by step, then end with a last line 'The answer is X', "
            f"where X is one of {letters}.")}]

    def completion(self, item: Item) -> str:
        return item["answer"]

    def extract(self, response: str, item: Item | None = None) -> str | None:
        return extract_choice(response)

    def grade(self, extracted: str | None, item: Item) -> bool:
        return extracted is not None and extracted.strip().upper() == str(item["target"]).upper()

    # -------------------------------------------------------------- instructor side

    def show(self, item: Item, response: str | None = None) -> str:
        parts = [("Question", item["question"]), ("Options", format_choices(item["choices"]))]
        if item.get("skill"):
            parts.append(("Subject", str(item["skill"])))
        if response is not None:
            chosen = self.extract(response)
            shown = f"{chosen}. {item['choices'][chosen]}" if chosen in item["choices"] else (chosen or "none")
            parts += [("Student's answer", response.strip() or "(empty)"),
                      ("Student's chosen option", shown)]
        target = item["target"]
        parts.append(("Correct option", f"{target}. {item['choices'].get(target, '')}".strip()))
        if item["answer"].strip() != f"The answer is {target}.":
            parts.append(("Explanation", item["answer"]))
        return "\n\n".join(f"### {header}\n{body}" for header, body in parts)

    def _finish(self, question: str, choices: dict[str, str], target: str,
                explanation: str | None, skill: str | None = None) -> Item:
        answer = answer_text(target, explanation)
        body = f"{question}\n{format_choices(choices)}\n{target}"
        item = {"id": f"{self.name}-gen-{hashlib.sha1(body.encode()).hexdigest()[:10]}",
                "question": question, "choices": choices, "answer": answer, "target": target}
        if skill:
            item["skill"] = skill
        return item

    def parse_with_rejects(self, text: str) -> tuple[list[Item], list[dict]]:
        """Questions in numbered `1. Question: ... A. ... D. ... Answer: X Explanation: ...`
        form and variants (markdown bold or headings, `### Problem 1`, `(A)`/`A)` options, inline
        options, "The answer is X"); plus the unreadable blocks (`{"text", "reason"}`)."""
        return parse_blocks(cut_blocks(text), parse_choice_block, lambda raw: self._finish(
            raw["question"], raw["choices"], raw["target"], raw["explanation"], raw.get("skill")))

    def from_fields(self, d: dict) -> Item | None:
        """An item from `{question, options (letter → text, or a list), answer (letter),
        explanation, skill?}`; None when a part is missing."""
        if not isinstance(d, dict):
            return None
        question, options = str(d.get("question") or "").strip(), d.get("options", d.get("choices"))
        if isinstance(options, list):
            options = dict(zip(LETTERS, options))
        if not question or not isinstance(options, dict) or not options:
            return None
        choices = {str(k).strip().strip("().").upper(): str(v).strip() for k, v in options.items()}
        target = str(d.get("answer") or "").strip().strip("().").upper()
        if not target:
            return None
        skill = str(d["skill"]).strip() if d.get("skill") else None
        return self._finish(question, choices, target, str(d.get("explanation") or ""), skill)

    def verify(self, item: Item) -> tuple[bool, str]:
        """At least two distinct non-empty options lettered A, B, ... in order; the key is one of
        them; and an explanation that names a letter names the key."""
        if not str(item.get("question") or "").strip():
            return False, "empty question"
        choices = item.get("choices")
        if not isinstance(choices, dict) or len(choices) < 2:
            return False, "fewer than two options"
        if list(choices) != list(LETTERS[: len(choices)]):
            return False, f"options must be lettered A, B, ... in order, got {list(choices)}"
        texts = [_norm(v) for v in choices.values()]
        if not all(texts):
            return False, "an option is empty"
        if len(set(texts)) != len(texts):
            return False, "two options are the same"
        target = str(item.get("target") or "")
        if target not in choices:
            return False, f"answer key {target!r} is not one of the options {', '.join(choices)}"
        text = str(item.get("answer") or "")
        said = [m[1] for p in (_ANSWER_IS, _ANSWER_COLON) for m in p.finditer(text)]
        if any(x != target for x in said):
            other = next(x for x in said if x != target)
            return False, f"the explanation concludes {other} but the key is {target}"
        return True, "ok"

    def signature(self, item: Item) -> str:
        """Normalized question plus the sorted normalized options."""
        opts = sorted(_norm(v) for v in (item.get("choices") or {}).values())
        return _norm(str(item.get("question", ""))) + " || " + " | ".join(opts)


@register_task("mmlu")
class MmluTask(ChoiceTask):
    """MMLU. Default: the shared `mmlu/train.jsonl` (the paper's mining questions), divided
    by seed into mining/validation/test; `skill` is the subject."""

    name = "mmlu"
    default_on_bad_row = "skip"
    defaults = {"mining": "mmlu/train.jsonl", "validation": "mmlu/train.jsonl",
                "test": "mmlu/train.jsonl"}


@register_task("arc_challenge")
class ArcChallengeTask(ChoiceTask):
    """ARC-Challenge. Default: the shared `arc_challenge/test.jsonl`, divided by seed. Its
    `1`-`4` labelled questions are relabelled A-D (`labels` keeps the originals)."""

    name = "arc_challenge"
    default_on_bad_row = "skip"
    defaults = {"mining": "arc_challenge/test.jsonl", "validation": "arc_challenge/test.jsonl",
                "test": "arc_challenge/test.jsonl"}


__all__ = ["ArcChallengeTask", "ChoiceTask", "LETTERS", "MmluTask", "answer_text",
           "extract_choice", "format_choices", "parse_choice_block"]
