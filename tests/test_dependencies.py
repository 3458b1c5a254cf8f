"""pyproject.toml declares what the code imports, and imports what it declares.

Every third-party module imported by the package (agents/, graph/, tools/, training/, lai/,
prompts/) or the benches must come from a declared distribution (`dependencies` or an
extra); every module the tests import, from `dependencies` or the `test` extra. And every
declared dependency is imported somewhere, unless `RUNTIME_ONLY` says why not.
"""

import ast
import re
import sys
import tomllib
from functools import lru_cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ("agents", "graph", "tools", "training", "lai", "prompts", "bench")
RUNTIME_ONLY = {
    "torch": "imported lazily inside functions; listed so pip resolves the CPU build first",
    "accelerate": "TRL's trainer needs it at run time",
    "gguf": "transformers reads the embedded SmolLM2 GGUF file with it",
    "datasets": "TRL's SFTTrainer takes a datasets.Dataset",
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(spec: str) -> str:
    return _norm(re.split(r"[\s<>=!~;\[]", spec.strip(), maxsplit=1)[0])


def _declared() -> dict[str, set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"dependencies": {_requirement_name(d) for d in project["dependencies"]}}
    for extra, specs in project.get("optional-dependencies", {}).items():
        groups[extra] = {_requirement_name(d) for d in specs}
    return groups


@lru_cache
def _imports(folders: tuple[str, ...]) -> dict[str, str]:
    """Top-level third-party module → one file that imports it."""
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                         else [])
                for name in names:
                    top = name.split(".")[0]
                    beside = (path.parent / f"{top}.py").exists()  # a script's own helper module
                    if top not in sys.stdlib_module_names and top not in ("lai", "tests", "__future__") \
                            and not beside:
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


@lru_cache
def _installed() -> dict[str, list[str]]:
    return packages_distributions()  # scans every installed distribution: once


def _distributions(module: str) -> set[str]:
    """The distributions that provide a top-level module (its own name when none installed does)."""
    return {_norm(d) for d in _installed().get(module, [])} or {_norm(module)}


@pytest.mark.parametrize("folders, allowed", [
    (PACKAGE, None),  # None: the dependencies and every extra
    (("tests",), ("dependencies", "test")),
])
def test_every_import_is_declared(folders, allowed):
    groups = _declared()
    declared = set().union(*(v for k, v in groups.items() if allowed is None or k in allowed))
    missing = {module: where for module, where in _imports(folders).items()
               if not _distributions(module) & declared}
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_every_dependency_is_imported():
    imported = set().union(*(_distributions(m) for m in _imports(PACKAGE)))
    unused = _declared()["dependencies"] - imported - set(RUNTIME_ONLY)
    assert not unused, f"declared in pyproject.toml but imported nowhere: {sorted(unused)}"
