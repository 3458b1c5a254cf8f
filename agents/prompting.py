"""What the instructor and data-generator agents share: prompt templates and batched LLM calls."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any, Callable

from langchain_core.messages import HumanMessage

from lai.tools.errors import LaiError


@lru_cache(maxsize=None)
def load_prompt(name: str) -> str:
    """A template from `prompts/`, e.g. `analyst_le`."""
    path = resources.files("lai.prompts") / f"{name}.txt"
    if not path.is_file():
        raise LaiError(f"no prompt template {name!r} in prompts/ (looked for {name}.txt)")
    return path.read_text(encoding="utf-8")


def call_batch(
    llm: Any, prompts: list[str], concurrency: int,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[str | None, str | None]]:
    """Send each prompt as one user message; returns (reply, error) per prompt, in order.

    A failed call is returned as its error text, never raised: one bad call must not sink
    a night's worth of the others.
    """
    results: list[tuple[str | None, str | None]] = []
    for start in range(0, len(prompts), max(concurrency, 1) * 4):
        chunk = prompts[start : start + max(concurrency, 1) * 4]
        replies = llm.batch(
            [[HumanMessage(p)] for p in chunk],
            config={"max_concurrency": concurrency},
            return_exceptions=True,
        )
        for reply in replies:
            if isinstance(reply, BaseException):
                results.append((None, f"{type(reply).__name__}: {reply}"))
            else:
                results.append((_text(reply.content), None))
        if progress:
            progress(len(chunk))
    return results


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
