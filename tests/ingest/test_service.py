"""The `service` format: capture shards written by `lrat serve --capture` rebuilt into normalized trajectories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lrat.cli import app
from lrat.ingest.runner import FORMAT_CHOICES, ingest
from lrat.serving.capture import CaptureConfig, CaptureWriter, Recorder

from .helpers import answer, browses, docid_lines, get_doc, kinds, run, searches, think
from .helpers import search as bcp_search
from .test_runner import GOOD, read_jsonl, write

MODEL = {"name": "bge", "version": "3"}


def rows(*docids: str) -> list[dict[str, Any]]:
    return [{"docid": d, "score": round(10.0 - i, 6)} for i, d in enumerate(docids)]


class Replica:
    """A real capture writer under a fixed replica name; ``close()`` seals its shard."""

    def __init__(self, folder: Path, name: str, model: dict[str, str] = MODEL) -> None:
        self.recorder = Recorder(CaptureWriter(CaptureConfig(dir=str(folder)), replica=name), model)

    def search(self, tid: str, at: float, query: str, docids: list[str], reasoning: Any = None, **extra: Any) -> None:
        self._record("search", tid, at, reasoning, query=query, k=10, results=rows(*docids), **extra)

    def batch(self, tid: str, at: float, queries: list[str], docids: list[list[str]], reasoning: Any = None) -> None:
        self._record("search_batch", tid, at, reasoning, queries=queries, k=5, results=[rows(*d) for d in docids])

    def get(self, tid: str, at: float, docid: str, found: bool = True, reasoning: Any = None) -> None:
        self._record("get_document", tid, at, reasoning, docid=docid, found=found)

    def finish(self, tid: str, at: float, answer: str | None, success: bool | None = None,
               reasoning: Any = None) -> None:
        self._record("finish", tid, at, reasoning, answer=answer, success=success)

    def _record(self, call: str, tid: str, at: float, reasoning: Any, question: str | None = None,
                question_id: str | None = None, **fields: Any) -> None:
        assert self.recorder.record(call, tid, at, reasoning, question, question_id, **fields)

    def close(self) -> None:
        self.recorder.close()


def event(call: str, seq: int, at: float, tid: str = "t", **fields: Any) -> dict[str, Any]:
    """A hand-written event line, as the writer would write it."""
    base = {"lrat_capture": 1, "time": at, "replica": "hand", "seq": seq, "trajectory_id": tid, "call": call,
            "model": MODEL, "reasoning": [], "question": None, "question_id": None}
    return {**base, **fields}


def by_id(out: Path) -> dict[str, dict]:
    return {t["trajectory_id"]: t for t in read_jsonl(out / "trajectories.jsonl")}


@pytest.fixture
def two_replicas(tmp_path: Path) -> Path:
    """Trajectory t1 alternates between replicas a and b; t2 interleaves with it. Written out of call order."""
    folder = tmp_path / "capture"
    a, b = Replica(folder, "a"), Replica(folder, "b")
    b.get("t1", 2.0, "2", reasoning="doc 2 looks right")
    b.get("t1", 4.0, "4", reasoning=["two blocks", "of reasoning"])
    b.get("t1", 4.5, "4")  # a repeat, no reasoning: the next reasoning is the finish's
    a.search("t1", 1.0, "first query", ["1", "2", "3"], reasoning="plan", question="Who?", question_id="q7")
    a.search("t2", 1.5, "other", ["9"], question_id="q8")
    a.search("t1", 3.0, "second query", ["4", "2"], reasoning="not enough")
    a.finish("t1", 5.0, "Exact Answer: x", success=True, reasoning="done")
    a.close()
    b.close()
    return folder


def test_a_trajectory_over_two_replicas_is_rebuilt_in_call_order(two_replicas: Path, tmp_path: Path):
    assert sorted(p.name for p in two_replicas.iterdir()) == ["a-00001.jsonl", "b-00001.jsonl"]
    summary = ingest([two_replicas], tmp_path / "out", progress=False)
    records = by_id(tmp_path / "out")
    t1 = records["service:t1"]
    assert kinds(t1) == ["reasoning", "search", "reasoning", "browse", "reasoning", "search", "reasoning",
                         "reasoning", "browse", "browse", "reasoning", "answer"]
    texts = [s["text"] for s in t1["steps"] if s["kind"] == "reasoning"]
    assert texts == ["plan", "doc 2 looks right", "not enough", "two blocks", "of reasoning", "done"]
    assert [(s["ordinal"], s["query"], s["queries_requested"]) for s in searches(t1)] == [
        (1, "first query", ["first query"]), (2, "second query", ["second query"])]
    assert [(r["docid"], r["rank"], r["score"]) for r in searches(t1)[1]["results"]] == [("4", 1, 10.0), ("2", 2, 9.0)]
    got = [(s["docid"], s["found"], s["attributed_search"], s["latest_search_before"], s["repeat"],
            s["reasoning_after"]) for s in browses(t1)]
    assert got == [("2", True, 1, 1, False, "not enough"), ("4", True, 2, 2, False, None),
                   ("4", True, 2, 2, True, "done")]
    assert t1["status"] == "completed" and t1["status_raw"] == "finished"
    assert t1["final_answer"]["exact"] == "x"
    assert t1["query_id"] == "q7" and t1["question"] == "Who?"
    assert t1["source"]["format"] == "service" and t1["source"]["writer"] == "lrat-serve"
    assert t1["source"]["path"] == "a-00001.jsonl" and t1["source"]["retriever"] == "bge/3"
    assert t1["source"]["k"] == 10 and t1["source"]["reported_success"] is True
    assert t1["warnings"] == ["repeat_browse:4"]
    assert records["service:t2"]["status"] == "incomplete"
    assert summary["by_format"] == {"service": 2} and summary["files_by_format"] == {"service": 2}
    assert summary["inputs"] == 2 and summary["rejected"] == 0
    assert list(records) == ["service:t1", "service:t2"]  # the earliest-started first


def test_search_batch_gives_one_search_per_query(tmp_path: Path):
    folder = tmp_path / "capture"
    r = Replica(folder, "r")
    r.batch("t", 1.0, ["q1", "q2"], [["1", "2"], ["3"]], reasoning="two angles")
    r.get("t", 2.0, "3", reasoning="3 it is")
    r.finish("t", 3.0, "x")
    r.close()
    ingest([folder], tmp_path / "out", progress=False)
    record = by_id(tmp_path / "out")["service:t"]
    assert kinds(record) == ["reasoning", "search", "search", "reasoning", "browse", "answer"]
    assert [(s["ordinal"], s["query"], s["queries_requested"], [r["docid"] for r in s["results"]])
            for s in searches(record)] == [(1, "q1", ["q1"], ["1", "2"]), (2, "q2", ["q2"], ["3"])]
    assert browses(record)[0]["attributed_search"] == 2 and record["source"]["k"] == 5


def test_trajectories_without_a_finish_or_an_answer_are_kept(tmp_path: Path):
    folder = tmp_path / "capture"
    r = Replica(folder, "r")
    r.search("open", 1.0, "q", ["1"])
    r.get("open", 2.0, "1", found=False)
    r.search("gave-up", 1.0, "q", ["1"])
    r.finish("gave-up", 2.0, None, success=False, reasoning="no idea")
    r.close()
    summary = ingest([folder], tmp_path / "out", progress=False)
    records = by_id(tmp_path / "out")
    still_open = records["service:open"]
    assert still_open["status"] == "incomplete" and still_open["status_raw"] == "no /finish"
    assert any(w.startswith("no_finish:") and "/finish" in w for w in still_open["warnings"])
    assert browses(still_open)[0]["error"] == "unknown docid" and not browses(still_open)[0]["found"]
    assert still_open["source"]["reported_success"] is None
    gave_up = records["service:gave-up"]
    assert gave_up["status"] == "incomplete" and gave_up["status_raw"] == "finished without an answer"
    assert gave_up["final_answer"] is None and kinds(gave_up) == ["search", "reasoning"]
    assert gave_up["source"]["reported_success"] is False
    assert summary["by_status"] == {"incomplete": 2} and summary["warnings"]["no_finish"] == 1


def test_version_change_calls_after_finish_and_a_second_finish_are_kept_with_warnings(tmp_path: Path):
    folder = tmp_path / "capture"
    old, new = Replica(folder, "old"), Replica(folder, "new", {"name": "bge", "version": "4"})
    old.search("t", 1.0, "q", ["1"])
    new.finish("t", 2.0, "first")
    new.search("t", 3.0, "q again", ["2"])
    new.finish("t", 4.0, "second")
    old.close()
    new.close()
    summary = ingest([folder], tmp_path / "out", progress=False)
    record = by_id(tmp_path / "out")["service:t"]
    assert kinds(record) == ["search", "answer", "search", "answer"]
    assert record["final_answer"]["text"] == "second" and record["source"]["retriever"] == "bge/3"
    assert {w.split(":", 1)[0] for w in record["warnings"]} == {"model_version_changed", "calls_after_finish",
                                                                "repeated_finish"}
    assert "bge/3 -> bge/4" in record["warnings"][0]
    assert summary["warnings"]["repeated_finish"] == 1


def test_malformed_event_lines_are_rejected_with_file_and_line(tmp_path: Path):
    folder = tmp_path / "capture"
    missing_seq = event("search", 9, 1.5, query="q", k=1, results=[])
    del missing_seq["seq"]
    lines = [
        json.dumps(event("search", 1, 1.0, query="q", k=10, results=rows("1"))),
        "{broken",
        "[1, 2]",
        json.dumps(missing_seq),
        json.dumps(event("delete", 3, 2.0)),
        json.dumps(event("get_document", 4, 2.5, docid="1", found="yes")),
        json.dumps(event("search", 5, 2.7, query="q", k=10, results=[{"docid": 1, "score": 1.0}])),
        json.dumps({"query_id": "1", "result": []}),
        "",
        json.dumps(event("finish", 6, 3.0, answer="x", success=None)),
        json.dumps(event("finish", 6, 3.0, answer="x", success=None)),  # the same event twice
    ]
    shard = write(folder / "hand-00001.jsonl", "\n".join(lines) + "\n")
    messages: list[str] = []
    summary = ingest([folder], tmp_path / "out", progress=False, log=messages.append)
    rejects = {r["line"]: r for r in read_jsonl(tmp_path / "out" / "rejects.jsonl")}
    assert sorted(rejects) == [2, 3, 4, 5, 6, 7, 8, 11]
    assert all(r["path"] == str(shard) for r in rejects.values())
    assert "JSON" in rejects[2]["error"]
    assert "JSON list, expected an object" in rejects[3]["error"]
    assert "missing 'seq'" in rejects[4]["error"]
    assert "unknown call 'delete'" in rejects[5]["error"]
    assert "'found' must be true or false" in rejects[6]["error"]
    assert "'results'" in rejects[7]["error"]
    assert "not a capture event" in rejects[8]["error"]
    assert "duplicate capture event" in rejects[11]["error"] and f"{shard}:10" in rejects[11]["error"]
    assert any(m.startswith(f"rejected {shard}:4:") for m in messages)
    assert summary["rejected"] == 8 and summary["trajectories"] == 1
    record = by_id(tmp_path / "out")["service:t"]
    assert kinds(record) == ["search", "answer"] and record["status"] == "completed"


def test_open_shards_are_skipped_and_counted(tmp_path: Path):
    folder = tmp_path / "capture"
    r = Replica(folder, "r")
    r.search("t", 1.0, "q", ["1"])
    r.close()
    orphan = write(folder / "crashed-00001.jsonl.open",
                   json.dumps(event("search", 1, 1.0, tid="lost", query="q", k=1, results=[])) + "\n")
    warned: list[str] = []
    summary = ingest([folder, orphan], tmp_path / "out", progress=False, warn=warned.append)
    assert summary["open_capture_shards"] == 2 and summary["skipped_files"] == 0
    assert list(by_id(tmp_path / "out")) == ["service:t"]
    assert len(warned) == 2 and all("open capture shard" in w and "seal_orphans" in w for w in warned)
    assert all("restart" in w for w in warned)
    plain = ingest([folder / "r-00001.jsonl"], tmp_path / "out2", progress=False)
    assert "open_capture_shards" not in plain


def test_auto_detects_capture_shards_beside_run_files(two_replicas: Path, tmp_path: Path):
    write(two_replicas / "run.json", GOOD)
    write(two_replicas / "runs.jsonl", json.dumps({**GOOD, "query_id": "2"}) + "\n")
    write(two_replicas / "stray.json", event("search", 1, 1.0, query="q", k=1, results=[]))
    summary = ingest([two_replicas], tmp_path / "out", progress=False)
    assert summary["files_by_format"] == {"bcp": 2, "service": 2}
    assert summary["by_format"] == {"bcp": 2, "service": 2}
    rejects = read_jsonl(tmp_path / "out" / "rejects.jsonl")
    assert len(rejects) == 1 and "--format service" in rejects[0]["error"]
    assert "service" in FORMAT_CHOICES


def test_cli_format_service(two_replicas: Path, tmp_path: Path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["ingest", str(two_replicas), "--out", str(out), "--format", "service",
                                      "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["by_format"] == {"service": 2} and summary["trajectories"] == 2
    assert "service" in CliRunner().invoke(app, ["ingest", "--help"]).output


def test_a_bcp_run_and_its_capture_give_the_same_trajectory(tmp_path: Path):
    bcp = run([
        think("plan"), bcp_search("first", docid_lines("1", "2", "3")),
        think("2 looks good"), get_doc("2"),
        think("need more"), bcp_search("second", docid_lines("4", "2")),
        think("check both"), get_doc("4"), get_doc("99", output=json.dumps({"error": "unknown docid"})),
        get_doc("2"),
        think("done"), answer("Exact Answer: x"),
    ])
    folder = tmp_path / "capture"
    r = Replica(folder, "r")
    r.search("t", 1.0, "first", ["1", "2", "3"], reasoning="plan", question_id="7")
    r.get("t", 2.0, "2", reasoning="2 looks good")
    r.search("t", 3.0, "second", ["4", "2"], reasoning="need more")
    r.get("t", 4.0, "4", reasoning="check both")
    r.get("t", 5.0, "99", found=False)
    r.get("t", 6.0, "2")
    r.finish("t", 7.0, "Exact Answer: x", reasoning="done")
    r.close()
    ingest([folder], tmp_path / "out", progress=False)
    captured = by_id(tmp_path / "out")["service:t"]

    def shape(record: dict) -> list[Any]:
        out: list[Any] = []
        for s in record["steps"]:
            if s["kind"] == "search":
                out.append(("search", s["ordinal"], s["query"], s["queries_requested"],
                            [(h["docid"], h["rank"]) for h in s["results"]]))
            elif s["kind"] == "browse":
                out.append(("browse", s["docid"], s["url"], s["found"], s["error"], s["attributed_search"],
                            s["latest_search_before"], s["repeat"], s["reasoning_after"]))
            else:
                out.append((s["kind"], s["text"]))
        return out

    assert shape(captured) == shape(bcp)
    assert [s["idx"] for s in captured["steps"]] == list(range(len(captured["steps"])))
    for key in ("warnings", "status", "final_answer", "query_id"):
        assert captured[key] == bcp[key], key
    assert set(captured) == set(bcp) and set(captured["source"]) - set(bcp["source"]) == {"reported_success"}
