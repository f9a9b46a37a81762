"""Capture: the service records the trajectories its callers make, so the flywheel can learn from production.

A caller tags its calls with a trajectory id (header ``X-Trajectory-Id`` or field ``trajectory_id``) and, optionally,
the reasoning it wrote since its previous call. Each tagged call becomes one event, a JSON line::

    {"lrat_capture": 1, "time": 1733600000.123, "replica": "host-4242-a1b2c3", "seq": 17,
     "trajectory_id": "...", "call": "search" | "search_batch" | "get_document" | "finish",
     "model": {"name": ..., "version": ...}, "reasoning": ["...", ...],
     "question": str | null, "question_id": str | null,
     "query": str, "k": int, "results": [{"docid": str, "score": float}, ...]          # search (rank = position)
     "queries": [str], "k": int, "results": [[{"docid", "score"}, ...], ...]           # search_batch
     "docid": str, "found": bool                                                        # get_document
     "answer": str | null, "success": bool | null}                                     # finish

``time`` is when the call arrived (a caller's calls follow each other, so time orders them across replicas);
``seq`` counts the replica's events. Events are written off the request path: the request thread only puts the event
on a bounded queue (when it is full the event is dropped and counted, never waited for), and one writer thread
appends them to the open shard ``<replica>-<n>.jsonl.open``, flushing after every batch. A shard is sealed by
fsync + rename to ``<replica>-<n>.jsonl`` when it reaches ``max_shard_bytes`` or ``max_shard_seconds``, and when the
service stops. A crash (SIGKILL) leaves sealed shards whole and the open one with what was flushed; the next service
started on the folder seals such orphans (dropping a torn last line), and `lrat ingest` reads only sealed shards.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not on Linux/macOS: orphaned shards are then sealed only by hand (or by the flywheel)
    fcntl = None  # type: ignore[assignment]

from lrat.capture_events import HEADER, MARKER, OPEN, SEALED, VERSION

__all__ = ["HEADER", "OPEN", "SEALED", "CaptureConfig", "CaptureWriter", "Recorder", "seal_orphans"]

CAPTURE_ENV = "LRAT_CAPTURE"  # JSON settings for the service: {"dir": ..., "max_shard_bytes": ..., ...}
_STOP = object()


@dataclass(frozen=True)
class CaptureConfig:
    """What the writer needs; params.yaml `serve.capture:` (lrat.settings.Capture) without the on/off."""

    dir: str
    max_shard_bytes: int = 64 << 20
    max_shard_seconds: float = 300.0
    queue_size: int = 10_000
    retention_days: float | None = None

    def to_env(self) -> dict[str, str]:
        return {CAPTURE_ENV: json.dumps(self.__dict__)}

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> CaptureConfig | None:
        raw = (os.environ if environ is None else environ).get(CAPTURE_ENV)
        if not raw:
            return None
        values = json.loads(raw)
        if not values.get("dir"):
            return None
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})

    @classmethod
    def from_settings(cls, capture: Any, folder: Path | str | None = None) -> CaptureConfig | None:
        """From `serve.capture:`; ``folder`` (``--capture DIR``) turns capture on whatever `dir` says."""
        chosen = folder if folder is not None else capture.dir
        if chosen is None:
            return None
        return cls(dir=str(Path(chosen).resolve()), max_shard_bytes=capture.max_shard_bytes,
                   max_shard_seconds=float(capture.max_shard_seconds), queue_size=capture.queue_size,
                   retention_days=capture.retention_days)


def replica_id() -> str:
    """Unique per process and start: host, pid and a random suffix (a restarted service never reuses a name)."""
    host = re.sub(r"[^A-Za-z0-9_.]+", "_", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


def reasoning_parts(reasoning: str | list[str] | None) -> list[str]:
    """The caller's reasoning since its previous call: one text, or several blocks kept apart."""
    if reasoning is None:
        return []
    if isinstance(reasoning, str):
        return [reasoning] if reasoning.strip() else []
    return [part for part in reasoning if isinstance(part, str) and part.strip()]


def seal_orphans(folder: Path) -> dict[str, int]:
    """Seal the open shards no live writer holds (a service that crashed): the torn last line, if any, is cut off
    (counted), an empty shard is removed. Shards a running writer holds (its lock) are left alone."""
    counts = {"sealed": 0, "removed": 0, "torn_lines": 0}
    for path in sorted(Path(folder).glob(f"*{OPEN}")):
        try:
            fh = path.open("r+b")
        except FileNotFoundError:  # another worker sealed it meanwhile
            continue
        with fh:
            if fcntl is not None:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer's shard
            if not path.exists():
                continue
            data = fh.read()
            keep = data.rfind(b"\n") + 1
            if keep < len(data):
                counts["torn_lines"] += 1
                fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
            if keep == 0:
                path.unlink()
                counts["removed"] += 1
                continue
            os.replace(path, path.with_name(path.name[: -len(OPEN)] + SEALED))
            counts["sealed"] += 1
    if counts["sealed"]:
        _fsync_dir(Path(folder))
    return counts


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class Counts:
    recorded: int = 0
    dropped: int = 0
    shards: int = 0
    finished: int = 0
    orphans: dict[str, int] = field(default_factory=dict)


class CaptureWriter:
    """A bounded queue and one writer thread appending events to size- and time-rotated JSONL shards."""

    def __init__(self, config: CaptureConfig, replica: str | None = None,
                 on_count: Callable[[str, int], None] | None = None) -> None:
        self.config = config
        self.folder = Path(config.dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.replica = replica or replica_id()
        self.counts = Counts(orphans=seal_orphans(self.folder))
        self._on_count = on_count or (lambda name, n: None)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=config.queue_size)
        self._lock = threading.Lock()  # the sequence number; held for a few instructions only
        self._seq = 0
        self._shard_no = 0
        self._fh: Any = None
        self._opened = 0.0
        self._size = 0
        self._thread = threading.Thread(target=self._run, name="lrat-capture", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # a clean exit that skipped the service's shutdown hook still seals

    # request path ----------------------------------------------------------------------------------------------

    def submit(self, event: dict[str, Any]) -> bool:
        """Queue one event; never blocks. False (and counted as dropped) when the queue is full or closed."""
        with self._lock:
            self._seq += 1
            event["seq"] = self._seq
        event["replica"] = self.replica
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.counts.dropped += 1
            self._on_count("dropped", 1)
            return False
        return True

    # writer thread ---------------------------------------------------------------------------------------------

    def _run(self) -> None:
        wait = max(0.05, min(1.0, self.config.max_shard_seconds / 4))
        while True:
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            batch: list[dict[str, Any]] = []
            stop = item is _STOP
            if item is not None and not stop:
                batch.append(item)
                while len(batch) < 1000:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is _STOP:
                        stop = True
                        break
                    batch.append(more)
            try:
                if batch:
                    self._write(batch)
                if stop or self._due():
                    self._seal()
            except OSError as exc:  # a full disk: count the events as dropped rather than kill the thread
                self.counts.dropped += len(batch)
                self._on_count("dropped", len(batch))
                print(f"lrat capture: could not write to {self.folder}: {exc}", flush=True)
            if stop:
                return

    def _write(self, events: list[dict[str, Any]]) -> None:
        if self._fh is None:
            self._open()
        data = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events).encode()
        self._fh.write(data)
        self._fh.flush()  # in the OS now: a killed process loses nothing written so far
        self._size += len(data)
        self.counts.recorded += len(events)
        self._on_count("recorded", len(events))
        finished = sum(1 for e in events if e.get("call") == "finish")
        if finished:
            self.counts.finished += finished
            self._on_count("finished", finished)

    def _open(self) -> None:
        self._shard_no += 1
        path = self.folder / f"{self.replica}-{self._shard_no:05d}{OPEN}"
        self._fh = path.open("ab")
        if fcntl is not None:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # tells seal_orphans this shard is alive
        self._path, self._opened, self._size = path, time.monotonic(), 0

    def _due(self) -> bool:
        return self._fh is not None and (self._size >= self.config.max_shard_bytes
                                         or time.monotonic() - self._opened >= self.config.max_shard_seconds)

    def _seal(self) -> None:
        if self._fh is None:
            return
        fh, path, self._fh = self._fh, self._path, None
        fh.flush()
        os.fsync(fh.fileno())
        os.replace(path, path.with_name(path.name[: -len(OPEN)] + SEALED))  # renamed while still locked
        fh.close()
        _fsync_dir(self.folder)
        self.counts.shards += 1
        self._on_count("shards", 1)
        self._expire()

    def _expire(self) -> None:
        """Remove sealed shards older than ``retention_days`` (their modification time)."""
        if self.config.retention_days is None:
            return
        cutoff = time.time() - self.config.retention_days * 86400
        for path in self.folder.glob(f"*{SEALED}"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except FileNotFoundError:
                pass

    # lifecycle -------------------------------------------------------------------------------------------------

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, seal the open shard and stop the thread."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    @property
    def queued(self) -> int:
        return self._queue.qsize()


class Recorder:
    """What the service calls: turns a tagged call into an event and hands it to the writer."""

    def __init__(self, writer: CaptureWriter, model: dict[str, str]) -> None:
        self.writer, self.model = writer, dict(model)

    @classmethod
    def from_env(cls, model: dict[str, str], on_count: Callable[[str, int], None] | None = None) -> Recorder | None:
        config = CaptureConfig.from_env()
        return None if config is None else cls(CaptureWriter(config, on_count=on_count), model)

    def record(self, call: str, trajectory_id: str, arrived: float, reasoning: str | list[str] | None,
               question: str | None, question_id: str | int | None, **fields: Any) -> bool:
        return self.writer.submit({
            MARKER: VERSION, "time": arrived, "trajectory_id": trajectory_id, "call": call, "model": self.model,
            "reasoning": reasoning_parts(reasoning), "question": question,
            "question_id": None if question_id is None else str(question_id), **fields})

    def close(self) -> None:
        self.writer.close()


def results_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A search answer's ranked rows as the event keeps them (rank is the position)."""
    return [{"docid": r["docid"], "score": round(float(r["score"]), 6)} for r in rows]
