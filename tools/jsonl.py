"""JSONL and text files written atomically (temp file + rename), so a half-written file is never read back."""

from __future__ import annotations

import codecs
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from lai.tools.errors import LaiError


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` through a temp file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it owner-only; a plain open would not
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)  # a full disk leaves no half file, and gets its space back
        if isinstance(e, OSError) and e.errno and e.filename is None:  # write and fsync name no file
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    return path


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Write rows as JSON lines, atomically."""
    text = "".join(_dumps(row) + "\n" for row in rows)
    return atomic_write_text(path, text)


def _dumps(obj: Any, **options: Any) -> str:
    """JSON with non-ASCII text as itself, except where it holds a lone surrogate (JSON's
    `"\\ud800"`): UTF-8 can't encode one, so that document keeps its escapes."""
    text = json.dumps(obj, ensure_ascii=False, **options)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, **options)
    return text


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any, str | None]]:
    """`(line number, value, None)` per non-blank line, or `(line number, None, why)` for a line
    that is not UTF-8 or not JSON, so each caller decides whether a bad line is fatal or skipped.

    Lines are decoded one by one (a UTF-8 byte-order mark on the first is allowed), so one
    mis-encoded line does not make the rest of the file unreadable."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield lineno, None, not_utf8(raw, e.start)
                continue
            if not line.strip():
                continue
            try:
                value, error = json.loads(line), None
            except json.JSONDecodeError as e:
                value, error = None, f"not valid JSON ({e.msg})"
            except RecursionError:
                value, error = None, "not readable JSON (nested too deeply)"
            yield lineno, value, error


def not_utf8(data: bytes, at: int) -> str:
    """Why `data` does not decode at byte offset `at`: the byte, its column in its line, the fix."""
    column = at - data.rfind(b"\n", 0, at)
    return f"not valid UTF-8 (byte 0x{data[at]:02x} at column {column}; save the file as UTF-8)"


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read JSON lines; a malformed line is an error naming the file and line."""
    rows = []
    for lineno, row, error in iter_jsonl(path):
        if error:
            raise LaiError(f"{path}:{lineno}: {error}")
        if not isinstance(row, dict):
            raise LaiError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def write_json(path: str | Path, obj: Any) -> Path:
    """Write one JSON document, atomically and human-readable."""
    return atomic_write_text(path, _dumps(obj, indent=2) + "\n")
