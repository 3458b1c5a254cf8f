"""The import rules of docs/architecture.md: which room may import which, task families side
by side, and no room probing a task with `hasattr`."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {  # room → the `lai.` rooms it may import
    "graph": {"graph", "agents", "tools", "training", "prompts"},
    "agents": {"agents", "tools", "prompts"},
    "training": {"training", "tools"},
    "tools": {"tools"},
}
FAMILIES = {"arith", "math", "choice", "code", "mixed"}
THIRD_PARTY_BANS = {"agents": {"langgraph"}}  # agents don't know they run in a graph


def _modules(room: str):
    for path in sorted((ROOT / room).rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def _imported(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from lai.tools import tasks` imports lai.tools.tasks
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def _forbidden(room: str, names: list[str]) -> list[str]:
    """The imported names a module of `room` may not import."""
    out = []
    for name in names:
        parts = name.split(".")
        if parts[0] == "lai" and len(parts) > 1 and parts[1] not in ALLOWED[room] | {"__version__"}:
            out.append(name)
        elif parts[0] in THIRD_PARTY_BANS.get(room, ()):
            out.append(name)
    return out


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_rooms_import_only_what_they_may(room):
    bad = [f"{path.relative_to(ROOT)}: {name}"
           for path, tree in _modules(room) for name in _forbidden(room, _imported(tree))]
    assert not bad, "imports that break docs/architecture.md:\n" + "\n".join(bad)


def test_task_families_sit_side_by_side():
    bad = []
    for family in sorted(FAMILIES):
        path = ROOT / "tools" / "tasks" / f"{family}.py"
        for name in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            parts = name.split(".")
            if parts[:3] == ["lai", "tools", "tasks"] and len(parts) > 3 and parts[3] in FAMILIES - {family}:
                bad.append(f"{family}.py imports {name}")
    assert not bad, bad


def test_no_room_asks_a_task_what_it_can_do():
    """Optional capabilities are declared on `Task` with defaults: no `hasattr(task, ...)`."""
    bad = []
    for room in ALLOWED:
        for path, tree in _modules(room):
            if path == ROOT / "tools" / "tasks" / "base.py":
                continue
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id in ("hasattr", "getattr") and node.args
                        and "task" in ast.unparse(node.args[0]).lower()):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not bad, bad


def test_the_rules_catch_a_violation():
    """What training/export.py once did is caught; what graph/ does is not (not vacuous)."""
    names = _imported(ast.parse("from lai.graph.config import load_config\nimport lai.agents.llm\n"
                                "from lai.tools.jsonl import read_jsonl\nimport langgraph.graph\n"))
    assert names == ["lai.graph.config.load_config", "lai.agents.llm", "lai.tools.jsonl.read_jsonl",
                     "langgraph.graph"]
    assert _forbidden("training", names) == ["lai.graph.config.load_config", "lai.agents.llm"]
    assert _forbidden("agents", names) == ["lai.graph.config.load_config", "langgraph.graph"]
    assert _forbidden("graph", names) == []
