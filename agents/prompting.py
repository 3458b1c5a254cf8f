"""Prompt templates (`prompts/*.txt`, filled with `str.format`)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from lai.tools.errors import LaiError


@lru_cache(maxsize=None)
def load_prompt(name: str) -> str:
    """A template from `prompts/`, e.g. `analyst_le_math`."""
    path = resources.files("lai.prompts") / f"{name}.txt"
    if not path.is_file():
        raise LaiError(f"no prompt template {name!r} in prompts/ (looked for {name}.txt)")
    return path.read_text(encoding="utf-8")
