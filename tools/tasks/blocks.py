"""Reading problem blocks out of an instructor's free-text reply, for every task family.

A reply is cut into one block per problem (`cut_blocks`); each block loses its `Skill:` line,
`Problem 1` header and `Question:` / `1.` label (`open_block`), and its question is split
from its answer at the `Answer:` label (`split_question`). Each family parses the rest of
its blocks; `parse_blocks` is their shared loop.
"""

from __future__ import annotations

import re
from typing import Any, Callable

Item = dict[str, Any]

Q_LABEL = re.compile(
    r"^[ \t>*\-]*(?:\d+\s*[.):]\s*)?(?:question|problem|q)\s*\d*\s*[.):]\s*", re.I | re.M
)
"""`Question:`, `1. Question:`, `Problem 2:`, `Q:` opening a problem."""
NUMBERED = re.compile(r"^[ \t]*\d+\s*[.)]\s+(?=[^\n]*[A-Za-z])(?![^\n]*=)", re.M)
"""`1.` numbering opening a problem (a line with words and no `=`)."""
SKILL_LINE = re.compile(r"^[ \t>*\-]*skill(?:\s+tag)?\s*:\s*([\w\- ]+?)\s*$", re.I | re.M)
_A_LABEL = re.compile(
    r"(?:^[ \t>*\-]*(?:answer|solution|a)\s*:|(?<!final\s)\b(?:answer|solution)\s*:|(?<=[.?!])[ \t]+A:)\s*",
    re.I | re.M,
)
_HEADER = re.compile(r"^[ \t]*(?:problem|question|exercise|example)\s*#?\d+\s*[.):]?[ \t]*$",
                     re.I | re.M)


def unmark(text: str) -> str:
    """Markdown bold and `#`-`###` headings dropped (never `####`), line ends made `\\n`."""
    text = text.replace("**", "").replace("__", "").replace("\r\n", "\n")
    return re.sub(r"^[ \t]*#{1,3}[ \t]+", "", text, flags=re.M)


def split_question(block: str) -> tuple[str | None, str]:
    """A problem block → `(question, text after the 'Answer:' label)`, or `(None, reason)`."""
    label = _A_LABEL.search(block)
    if not label:
        return None, "no 'Answer:' label"
    question = " ".join(block[: label.start()].split())
    if not question:
        return None, "empty question"
    return question, block[label.end():]


def cut_blocks(text: str) -> list[str]:
    """A reply cut into one block per problem: at each `Problem 1`-style header line, at each
    `Question:`-style label that no such header heads, else at `1.` numbering."""
    text = unmark(text or "")
    starts = {m.start() for m in Q_LABEL.finditer(text)}
    for m in _HEADER.finditer(text):
        after = re.compile(r"\s*").match(text, m.end()).end()
        starts.discard(text.rfind("\n", 0, after) + 1)  # the label it heads starts no block
        starts.add(m.start())
    ordered = sorted(starts) or [m.start() for m in NUMBERED.finditer(text)]
    return [text[s:e] for s, e in zip(ordered, ordered[1:] + [len(text)])]


def open_block(block: str) -> tuple[str, str | None]:
    """A problem block without its `Skill:` line, `Problem 1` header and `Question:` / `1.`
    label (what every family's block parser strips first), and the skill it named."""
    skill = None
    if m := SKILL_LINE.search(block):
        skill = m[1].strip()
        block = block[: m.start()] + block[m.end():]
    block = block.strip()
    if header := _HEADER.match(block):
        block = block[header.end():].lstrip()
    if Q_LABEL.match(block):
        return Q_LABEL.sub("", block, count=1), skill
    return NUMBERED.sub("", block, count=1), skill


def parse_blocks(blocks: list[str], parse_block: Callable[[str], tuple[dict | None, str]],
                 finish: Callable[[dict], Item]) -> tuple[list[Item], list[dict]]:
    """Items from a reply cut into problem blocks, and the blocks that could not be read
    (`{"text", "reason"}`): the shared loop of every family's `parse_with_rejects`."""
    items, rejects = [], []
    for block in blocks:
        raw, reason = parse_block(block)
        if raw:
            items.append(finish(raw))
        else:
            rejects.append({"text": block.strip(), "reason": reason})
    return items, rejects
