"""Input files to records, one at a time: walks directories, streams JSONL, and turns every unreadable piece into
an error that names the file and line (empty, binary, not UTF-8, truncated, nested too deeply, too large)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrat.capture_events import OPEN as OPEN_SHARD

DATA_SUFFIXES = (".json", ".jsonl", ".ndjson", ".txt")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
NOT_RUNS = ("summary.json",)  # what `lrat agent` (and BC+'s evaluator) write beside the run files
MAX_WHOLE_FILE = 256 * 1024 * 1024  # a single JSON document or transcript; bigger inputs must be JSONL


@dataclass
class Unit:
    """One record, or the reason it could not be read."""

    display: str  # the path as the user can open it (rejects.jsonl)
    rel: str  # relative to its INPUT (source.path)
    line: int | None
    item: int | None
    record: Any = None
    error: str | None = None
    size: int = 0  # input bytes this unit stands for (progress)


def list_files(inputs: list[Path]) -> tuple[list[tuple[Path, str]], list[str]]:
    """``[(path, relative path)]`` in a stable order, and the files skipped because of their type. Open capture
    shards (``*.jsonl.open``, still being written) are always skipped, even when named as an INPUT."""
    files: list[tuple[Path, str]] = []
    skipped: list[str] = []
    for root in inputs:
        if root.is_file():
            if root.name.endswith(OPEN_SHARD):
                skipped.append(str(root))
            else:
                files.append((root, root.name))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if name.startswith(".") or path.suffix.lower() not in DATA_SUFFIXES or name in NOT_RUNS:
                    skipped.append(str(path))
                    continue
                files.append((path, path.relative_to(root).as_posix()))
    return files, skipped


def _loads(text: str) -> tuple[Any, str | None]:
    try:
        value = json.loads(text)
    except RecursionError:
        return None, "JSON nested too deeply to read"
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        kind = "truncated JSON" if truncated else "invalid JSON"
        return None, f"{kind}: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    # a JSON null would otherwise look like a blank line (no record, no error) and vanish uncounted
    return (None, "JSON null: expected a run record") if value is None else (value, None)


def _decode(raw: bytes) -> tuple[str | None, str | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start} ({exc.reason})"


def _jsonl(path: Path, rel: str) -> Iterator[Unit]:
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            unit = Unit(str(path), rel, lineno, None, size=len(raw))
            if not raw.strip():
                yield unit  # blank line: nothing to read, only progress
                continue
            if b"\x00" in raw:
                unit.error = "binary data (NUL bytes) in a JSONL line"
            else:
                text, unit.error = _decode(raw)
                if text is not None:
                    unit.record, unit.error = _loads(text)
            yield unit


def read_units(path: Path, rel: str, lines: bool = False) -> Iterator[Unit]:
    """Units of one file; blank JSONL lines come back with no record and no error. ``lines`` reads the file line by
    line whatever its name (capture shards)."""
    display = str(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(4096)
    if not head.strip() and size <= len(head):
        yield Unit(display, rel, None, None, error="empty file", size=size)
        return
    if lines or path.suffix.lower() in JSONL_SUFFIXES:  # line by line: a garbage line never costs the good ones
        yield from _jsonl(path, rel)
        return
    if b"\x00" in head:
        yield Unit(display, rel, None, None, error="binary file (NUL bytes); expected JSON, JSONL or text", size=size)
        return
    if size > MAX_WHOLE_FILE:
        yield Unit(display, rel, None, None, size=size,
                   error=f"file is {size >> 20} MiB; a single JSON document over 256 MiB must be split into JSONL")
        return
    text, error = _decode(path.read_bytes())
    if text is None:
        yield Unit(display, rel, None, None, error=error, size=size)
        return
    if text.lstrip()[:1] not in ("{", "["):
        yield Unit(display, rel, None, None, record=text, size=size)  # a plain-text transcript
        return
    value, error = _loads(text)
    if error is not None and "Extra data" in error:  # JSONL under a .json name (e.g. released BC+ runs)
        yield from _jsonl(path, rel)
        return
    if error is not None:
        yield Unit(display, rel, None, None, error=error, size=size)
    elif isinstance(value, list) and value and not all(isinstance(m, dict) and "role" in m for m in value):
        share = size // len(value)
        for i, record in enumerate(value, 1):
            yield Unit(display, rel, None, i, record=record, size=share)
    else:
        yield Unit(display, rel, None, None, record=value, size=size)
