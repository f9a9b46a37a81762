"""The capture writer on its own: rotation, atomic sealing, orphans after a crash, and a full queue that drops and
counts instead of making the caller wait (a stalled writer)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from lrat.serving.capture import OPEN, SEALED, CaptureConfig, CaptureWriter, Recorder, reasoning_parts, seal_orphans

MODEL = {"name": "base", "version": "files-0123"}


def events(folder: Path) -> list[dict]:
    out = []
    for path in sorted(folder.glob(f"*{SEALED}")):
        out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return out


def record_search(recorder: Recorder, tid: str, i: int) -> bool:
    return recorder.record("search", tid, 1000.0 + i, f"thought {i}", None, None, query=f"q{i}", k=2,
                           results=[{"docid": "d1", "score": 0.5}])


def test_events_are_sealed_in_order_with_every_field(tmp_path: Path) -> None:
    writer = CaptureWriter(CaptureConfig(dir=str(tmp_path)))
    recorder = Recorder(writer, MODEL)
    assert recorder.record("search", "t1", 10.0, ["a", "", "b"], "who?", 7, query="q", k=1,
                           results=[{"docid": "d1", "score": 0.25}])
    assert recorder.record("finish", "t1", 11.0, None, None, None, answer="x", success=True)
    writer.close()
    got = events(tmp_path)
    assert [e["call"] for e in got] == ["search", "finish"]
    first = got[0]
    assert first["lrat_capture"] == 1 and first["trajectory_id"] == "t1" and first["model"] == MODEL
    assert first["reasoning"] == ["a", "b"] and first["question_id"] == "7" and first["question"] == "who?"
    assert first["results"] == [{"docid": "d1", "score": 0.25}] and first["time"] == 10.0
    assert [e["seq"] for e in got] == [1, 2] and {e["replica"] for e in got} == {writer.replica}
    assert writer.counts.recorded == 2 and writer.counts.finished == 1 and writer.counts.shards == 1
    assert not list(tmp_path.glob(f"*{OPEN}"))


def test_shards_rotate_by_size(tmp_path: Path) -> None:
    writer = CaptureWriter(CaptureConfig(dir=str(tmp_path), max_shard_bytes=1024))
    recorder = Recorder(writer, MODEL)
    for i in range(60):
        record_search(recorder, "t", i)
        if i % 5 == 4:  # let the writer take a few at a time
            while writer.queued:
                threading.Event().wait(0.01)
    writer.close()
    shards = sorted(tmp_path.glob(f"*{SEALED}"))
    assert len(shards) > 3 and writer.counts.shards == len(shards)
    assert [e["query"] for e in events(tmp_path)] == [f"q{i}" for i in range(60)]


def test_shards_rotate_by_time(tmp_path: Path) -> None:
    writer = CaptureWriter(CaptureConfig(dir=str(tmp_path), max_shard_seconds=0.2))
    recorder = Recorder(writer, MODEL)
    record_search(recorder, "t", 0)
    for _ in range(100):  # sealed by age while the service stays up
        if list(tmp_path.glob(f"*{SEALED}")):
            break
        threading.Event().wait(0.05)
    assert len(list(tmp_path.glob(f"*{SEALED}"))) == 1 and not list(tmp_path.glob(f"*{OPEN}"))
    record_search(recorder, "t", 1)
    writer.close()
    assert len(list(tmp_path.glob(f"*{SEALED}"))) == 2


def test_a_full_queue_drops_and_counts_instead_of_waiting_for_a_stalled_writer(tmp_path: Path) -> None:
    writer = CaptureWriter(CaptureConfig(dir=str(tmp_path), queue_size=4))
    release, entered = threading.Event(), threading.Event()
    write = writer._write

    def stalled(batch: list[dict]) -> None:  # a disk that stopped answering
        entered.set()
        release.wait(30)
        write(batch)

    writer._write = stalled  # type: ignore[method-assign]
    recorder = Recorder(writer, MODEL)
    counted: list[int] = []
    writer._on_count = lambda name, n: counted.append(n) if name == "dropped" else None
    record_search(recorder, "t", 0)
    assert entered.wait(10)
    outcomes: list[bool] = []
    caller = threading.Thread(target=lambda: outcomes.extend(record_search(recorder, "t", i) for i in range(1, 50)))
    caller.start()
    caller.join(10)  # never blocks: a caller waiting on the writer would still be running here
    assert not caller.is_alive()
    assert outcomes.count(True) == 4 and outcomes.count(False) == 45
    assert writer.counts.dropped == 45 and sum(counted) == 45
    release.set()
    writer.close()
    assert [e["query"] for e in events(tmp_path)] == [f"q{i}" for i in range(5)]
    assert writer.counts.recorded == 5


def test_orphaned_open_shards_are_sealed_without_their_torn_line(tmp_path: Path) -> None:
    good = json.dumps({"lrat_capture": 1, "call": "search", "trajectory_id": "t"})
    (tmp_path / f"dead-1-00001{OPEN}").write_text(f"{good}\n{good}\n{{\"lrat_cap", encoding="utf-8")
    (tmp_path / f"dead-1-00002{OPEN}").write_text("", encoding="utf-8")
    writer = CaptureWriter(CaptureConfig(dir=str(tmp_path)))  # a restarted service
    assert writer.counts.orphans == {"sealed": 1, "removed": 1, "torn_lines": 1}
    assert (tmp_path / f"dead-1-00001{SEALED}").read_text(encoding="utf-8") == f"{good}\n{good}\n"
    assert not list(tmp_path.glob(f"*{OPEN}"))
    writer.close()


def test_a_live_writers_open_shard_is_left_alone(tmp_path: Path) -> None:
    writer = CaptureWriter(CaptureConfig(dir=str(tmp_path)))
    record_search(Recorder(writer, MODEL), "t", 0)
    for _ in range(100):
        if list(tmp_path.glob(f"*{OPEN}")):
            break
        threading.Event().wait(0.02)
    assert seal_orphans(tmp_path) == {"sealed": 0, "removed": 0, "torn_lines": 0}
    assert len(list(tmp_path.glob(f"*{OPEN}"))) == 1
    writer.close()
    assert len(list(tmp_path.glob(f"*{SEALED}"))) == 1


def test_retention_removes_old_sealed_shards(tmp_path: Path) -> None:
    old = tmp_path / f"old-1-00001{SEALED}"
    old.write_text("{}\n", encoding="utf-8")
    os.utime(old, (1_000_000, 1_000_000))
    writer = CaptureWriter(CaptureConfig(dir=str(tmp_path), retention_days=1))
    record_search(Recorder(writer, MODEL), "t", 0)
    writer.close()
    assert not old.exists() and len(list(tmp_path.glob(f"*{SEALED}"))) == 1


@pytest.mark.parametrize(("given", "parts"), [(None, []), ("", []), ("a", ["a"]), (["a", " ", "b"], ["a", "b"])])
def test_reasoning_is_kept_as_the_callers_blocks(given: object, parts: list[str]) -> None:
    assert reasoning_parts(given) == parts  # type: ignore[arg-type]


def test_the_config_reaches_the_service_through_one_variable(tmp_path: Path) -> None:
    from lrat.settings import Capture

    assert CaptureConfig.from_settings(Capture()) is None  # off by default
    config = CaptureConfig.from_settings(Capture(max_shard_seconds=5), tmp_path / "cap")
    assert config is not None and config.dir == str((tmp_path / "cap").resolve())
    assert CaptureConfig.from_env(config.to_env()) == config
    assert CaptureConfig.from_env({}) is None
