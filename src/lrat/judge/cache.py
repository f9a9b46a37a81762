"""A persistent verdict cache: judging the same reasoning text with the same prompt and model twice is paid
once, across processes, so a `dvc repro` re-run of the filter stage costs no judge calls."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

from lrat.judge.base import LABELS

_SCHEMA = "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, label TEXT NOT NULL) WITHOUT ROWID"
_CHUNK = 500  # bound on SQL variables per query (old SQLite builds allow 999)


def cache_key(prompt_version: str, model: str, text: str) -> str:
    """sha256 of the three, unambiguously joined: a new prompt or model never reuses an old verdict."""
    return hashlib.sha256(json.dumps([prompt_version, model, text], ensure_ascii=False).encode()).hexdigest()


class VerdictCache:
    """SQLite key -> label. Only successful verdicts go in (errors are retried next run); writes are one
    transaction each, so a crash leaves either all of a batch or none of it."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        with self._lock, self._conn:
            self._conn.execute(_SCHEMA)

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """The labels known for these keys (absent keys are left out)."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for i in range(0, len(unique), _CHUNK):
                chunk = unique[i:i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(f"SELECT key, label FROM verdicts WHERE key IN ({marks})", chunk)
                found.update(rows.fetchall())
        return found

    def get(self, key: str) -> str | None:
        return self.get_many([key]).get(key)

    def put_many(self, items: Iterable[tuple[str, str]]) -> int:
        """Store (key, label) pairs in one transaction; returns how many were written."""
        rows = list(items)
        for _, label in rows:
            if label not in LABELS:
                raise ValueError(f"only successful verdicts are cached, got label {label!r}")
        if rows:
            with self._lock, self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO verdicts (key, label) VALUES (?, ?)", rows)
        return len(rows)

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> VerdictCache:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
