"""Capture through a real `bentoml serve`: tagged calls (header or field) are recorded with their results and the
caller's reasoning, untagged ones are not, /metrics counts them, and a SIGKILLed service leaves every sealed shard
whole; the restarted service seals the orphan and keeps appending, and `lrat ingest` reads it all."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest

from lrat.serving.capture import OPEN, SEALED, CaptureConfig
from lrat.serving.process import read_counter
from tests.serving.bento_world import bentoml_home, world_bento
from tests.serving.test_service import Built, call

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A small world's bento (the packaged MiniLM over 300 pages)."""
    from lrat.simulate.export import write_world
    from lrat.simulate.world import generate_world

    home = bentoml_home(tmp_path_factory.mktemp("bentoml"))
    tmp = tmp_path_factory.mktemp("capture-service")
    world = generate_world(5, n_docs=300, n_questions=40)
    write_world(world, tmp / "world")
    record = world_bento(tmp / "world", tmp)
    return Built(tmp, home, world, tmp / "world" / "corpus.jsonl", tmp / "cache", tmp / "index", record)


def sealed_events(folder: Path) -> list[dict]:
    out = []
    for path in sorted(folder.glob(f"*{SEALED}")):
        out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return sorted(out, key=lambda e: (e["time"], e["replica"], e["seq"]))


def serve_capturing(built: Built, folder: Path, log: str, **config: float):  # noqa: ANN201
    from lrat.serving.process import serving

    env = {"BENTOML_HOME": built.home, **CaptureConfig(dir=str(folder), **config).to_env()}  # type: ignore[arg-type]
    return serving(built.record["bento"], built.tmp / log, env=env)


def test_tagged_calls_are_recorded_and_untagged_ones_are_not(built: Built, tmp_path: Path) -> None:
    folder = tmp_path / "capture"
    docid = built.world.docs[3]["docid"]
    with serve_capturing(built, folder, "capture-serve.log") as (url, _):
        status, plain = call(url, "search", {"query": "harbour town ferry", "k": 3})
        assert status == 200
        status, _ = call(url, "get_document", {"docid": docid})  # untagged: served, not recorded
        assert status == 200
        head = {"X-Trajectory-Id": "traj-1"}
        status, tagged = call(url, "search", {"query": "harbour town ferry", "k": 3, "reasoning": "first I look",
                                              "question": "Which ferry?", "question_id": "q1"}, headers=head)
        assert status == 200 and tagged["results"] == plain["results"]  # capture changes no answer
        assert call(url, "search_batch", {"queries": ["museum records", "castle"], "k": 2}, headers=head)[0] == 200
        assert call(url, "get_document", {"docid": docid, "reasoning": ["opening it", "now"]}, headers=head)[0] == 200
        assert call(url, "get_document", {"docid": "no-such-doc", "trajectory_id": "traj-2"})[0] == 404
        status, done = call(url, "finish", {"trajectory_id": "traj-1", "answer": "Exact Answer: X", "success": True,
                                           "reasoning": "so it is X"})
        assert status == 200 and done == {"recorded": True}
        assert call(url, "finish", {"answer": "x"})[0] == 400  # nothing says which trajectory
        for _ in range(100):
            if read_counter(url, "lrat_capture_events_recorded_total") >= 5:
                break
            threading.Event().wait(0.1)
        assert read_counter(url, "lrat_capture_events_recorded_total") == 5
        assert read_counter(url, "lrat_capture_events_dropped_total") == 0
        assert read_counter(url, "lrat_capture_trajectories_finished_total") == 1
    # stopped with SIGTERM: the shutdown hook sealed the open shard
    assert not list(folder.glob(f"*{OPEN}")) and len(list(folder.glob(f"*{SEALED}"))) == 1
    got = sealed_events(folder)
    assert [(e["trajectory_id"], e["call"]) for e in got] == [
        ("traj-1", "search"), ("traj-1", "search_batch"), ("traj-1", "get_document"), ("traj-2", "get_document"),
        ("traj-1", "finish")]
    search, batch, browse, missing, finish = got
    assert search["query"] == "harbour town ferry" and search["k"] == 3
    assert [r["docid"] for r in search["results"]] == [r["docid"] for r in plain["results"]]
    assert search["reasoning"] == ["first I look"] and search["question_id"] == "q1"
    assert search["question"] == "Which ferry?" and search["model"] == built.record["served_model"]
    assert batch["queries"] == ["museum records", "castle"] and [len(r) for r in batch["results"]] == [2, 2]
    assert browse["docid"] == docid and browse["found"] is True and browse["reasoning"] == ["opening it", "now"]
    assert missing["found"] is False
    assert finish["answer"] == "Exact Answer: X" and finish["success"] is True
    assert finish["reasoning"] == ["so it is X"]


def test_a_killed_service_leaves_sealed_shards_whole_and_the_restarted_one_keeps_appending(
        built: Built, tmp_path: Path) -> None:
    from lrat.ingest.runner import ingest

    folder = tmp_path / "capture"
    queries = [d["title"] for d in built.world.docs[:200]]
    sent: list[str] = []
    stop = threading.Event()

    def caller(url: str) -> None:
        for i, query in enumerate(queries):
            if stop.is_set():
                return
            try:
                call(url, "search", {"query": query, "k": 5, "reasoning": f"step {i}"},
                     headers={"X-Trajectory-Id": "long-run"})
            except OSError:
                return  # the service is gone
            sent.append(query)

    with serve_capturing(built, folder, "kill-serve.log", max_shard_seconds=0.5) as (url, proc):
        thread = threading.Thread(target=caller, args=(url,))
        thread.start()
        for _ in range(300):  # until a few shards are sealed while calls keep coming
            if len(list(folder.glob(f"*{SEALED}"))) >= 2:
                break
            threading.Event().wait(0.05)
        import os

        import psutil

        # the whole service dies at once: BentoML's workers run in process groups of their own
        for process in [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]:
            os.kill(process.pid, signal.SIGKILL)
        stop.set()
        thread.join(30)
    sealed_before = sorted(folder.glob(f"*{SEALED}"))
    assert len(sealed_before) >= 2
    for shard in sealed_before:  # every sealed shard reads whole
        for line in shard.read_text(encoding="utf-8").splitlines():
            assert json.loads(line)["trajectory_id"] == "long-run"
    killed = len(sent)
    summary = ingest([folder], tmp_path / "ingested-1", progress=False)
    assert summary["rejected"] == 0 and summary["trajectories"] == 1
    assert summary["by_status"] == {"incomplete": 1}  # no /finish yet: kept, as incomplete

    orphans = list(folder.glob(f"*{OPEN}"))
    stop.clear()
    with serve_capturing(built, folder, "restart-serve.log") as (url, _):
        # the killed replica's open shard is sealed when the new one starts (a torn last line cut off)
        assert not any(p.exists() for p in orphans)
        caller_thread = threading.Thread(target=caller, args=(url,))
        queries = queries[:20]
        caller_thread.start()
        caller_thread.join(60)
        assert call(url, "finish", {"answer": "Exact Answer: done"}, headers={"X-Trajectory-Id": "long-run"})[0] == 200
    assert not list(folder.glob(f"*{OPEN}"))
    got = sealed_events(folder)
    replicas = list(dict.fromkeys(e["replica"] for e in got))
    assert len(replicas) == 2  # the killed service and the restarted one
    assert all(e["trajectory_id"] == "long-run" for e in got)
    searches = [e for e in got if e["call"] == "search"]
    assert killed - 2 <= len(searches) - 20 <= killed + 1  # at most the unwritten tail (a call or two) was lost
    assert [e["query"] for e in searches][-20:] == queries
    summary = ingest([folder], tmp_path / "ingested-2", progress=False)
    assert summary["rejected"] == 0 and summary["by_status"] == {"completed": 1}
    record = json.loads((tmp_path / "ingested-2" / "trajectories.jsonl").read_text(encoding="utf-8"))
    assert [s["query"] for s in record["steps"] if s["kind"] == "search"] == [e["query"] for e in searches]
