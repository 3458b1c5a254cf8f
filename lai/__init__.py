"""llms-as-instructors: the design card's folders, installed under one namespace.

`agents/`, `graph/`, `tools/`, `training/` and `prompts/` live at the repository root, as
the card fixes; pyproject.toml maps them to `lai.agents`, `lai.graph`, ... at install time.
"""

__version__ = "0.1.0"
