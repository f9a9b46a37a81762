"""The simulated agent over HTTP, recorded by the service's capture: a real bento (tiny generated world, packaged
MiniLM) served by a real `bentoml serve` with capture on, and the shards it wrote compared call by call with the
run files the same agents wrote.

Slow (about a minute): the world is indexed, packaged and built once. BentoML reads $BENTOML_HOME once, at import,
so nothing here imports bentoml at module level (as in tests/serving/test_service.py, whose setup this copies).
"""

from __future__ import annotations

import http.client
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from tests.serving.bento_world import bentoml_home, world_bento

if TYPE_CHECKING:
    from lrat.simulate.http_agent import ServiceError
    from lrat.simulate.world import World

SEED, N_QUESTIONS, TIMEOUT = 7, 20, 30.0
UNTAGGED = ["untagged probe harbour lighthouse", "untagged probe museum records", "untagged probe ferry"]
_DOCID = re.compile(r"^DocID:(\S+)$", re.MULTILINE)
_ANSWER = re.compile(r"^Exact Answer: (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Captured:
    """One capture session: the agents' summary and run files, the events the service recorded, and what it served."""

    world: World
    summary: dict[str, Any]
    runs: Path
    events: list[dict[str, Any]]
    served: dict[str, str]
    progress: int
    sealed_by_hand: dict[str, int] | None  # seal_orphans' counts when shutdown left an open shard, else None
    batched_runs: Path                     # the same agents through driver.simulate (untagged /search_batch)
    batched_summary: dict[str, Any]
    refused: ServiceError                  # what simulate_over_http raised for a search the service refused


def _post(url: str, route: str, body: dict[str, Any]) -> tuple[int, Any]:
    """One untagged call, on its own connection."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        conn.request("POST", f"/{route}", body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    """World → index → bento, served with capture on; the agents run over HTTP (plus untagged calls), then the
    server stops (sealing its shard) and the sealed shards are read."""
    before = os.environ.get("BENTOML_HOME")
    home = bentoml_home(tmp_path_factory.mktemp("bentoml"))
    from lrat.retrieval.http import HttpRetriever
    from lrat.serving.capture import OPEN, SEALED, CaptureConfig, seal_orphans
    from lrat.serving.process import serving
    from lrat.serving.settings import ServeArgs
    from lrat.simulate.agent import AgentConfig
    from lrat.simulate.driver import simulate
    from lrat.simulate.export import write_world
    from lrat.simulate.http_agent import ServiceError, simulate_over_http
    from lrat.simulate.world import generate_world

    tmp = tmp_path_factory.mktemp("http-agent")
    world = generate_world(5, n_docs=300, n_questions=40)
    write_world(world, tmp / "world")
    record = world_bento(tmp / "world", tmp)
    capture = tmp / "capture"
    questions, cfg = world.questions[:N_QUESTIONS], AgentConfig()
    held_out = {d for q in world.questions[N_QUESTIONS:] for d in q.evidence}
    ticks: list[int] = []
    env = {"BENTOML_HOME": home, **CaptureConfig(dir=str(capture), max_shard_seconds=2).to_env()}
    try:
        with serving(record["bento"], tmp / "serve.log", env=env) as (url, _proc):
            summary = simulate_over_http(world, questions, url, cfg, SEED, out=tmp / "runs", progress=ticks.append,
                                         concurrency=8, held_out=held_out, timeout=TIMEOUT)
            for query in UNTAGGED:
                status, answer = _post(url, "search", {"query": query, "k": 5})
                assert status == 200 and len(answer["results"]) == 5, answer
            status, _ = _post(url, "get_document", {"docid": world.docs[0]["docid"]})
            assert status == 200
            status, answer = _post(url, "finish", {"answer": "x", "success": True})
            assert status == 400, answer  # nothing to close without an id
            with pytest.raises(ServiceError) as refused:  # k over the service's max_k: a 400, nothing recorded
                simulate_over_http(world, questions[:2], url, AgentConfig(k=ServeArgs().max_k + 1), SEED,
                                   timeout=TIMEOUT)
            batched_summary = simulate(world, questions, HttpRetriever(url, timeout=TIMEOUT), cfg, SEED,
                                       tmp / "batched", held_out=held_out)
        sealed_by_hand = seal_orphans(capture) if list(capture.glob(f"*{OPEN}")) else None
        events = [json.loads(line) for shard in sorted(capture.glob(f"*{SEALED}"))
                  for line in shard.read_text().splitlines()]
        yield Captured(world, summary, tmp / "runs", events, record["served_model"], sum(ticks), sealed_by_hand,
                       tmp / "batched", batched_summary, refused.value)
    finally:
        if before is None:
            os.environ.pop("BENTOML_HOME", None)
        else:
            os.environ["BENTOML_HOME"] = before


def _runs(folder: Path) -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("run_*.json"))}


def _expected_calls(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The calls the run file's items say the agent made, each with the reasoning items before it (since the
    previous call), ending with /finish and the final output (if any)."""
    calls, reasoning, answer = [], [], None
    for item in run["result"]:
        if item["type"] == "reasoning":
            reasoning.append(item["output"])
        elif item["type"] == "output_text":
            answer = item["output"]
        elif item["tool_name"] == "search":
            calls.append({"call": "search", "query": json.loads(item["arguments"])["query"], "reasoning": reasoning,
                          "shown": _DOCID.findall(item["output"])})
            reasoning = []
        elif item["tool_name"] == "get_document":
            calls.append({"call": "get_document", "docid": json.loads(item["arguments"])["docid"],
                          "reasoning": reasoning})
            reasoning = []
    calls.append({"call": "finish", "answer": answer, "reasoning": reasoning})
    return calls


def _exact_answer(run: dict[str, Any]) -> str | None:
    outputs = [i["output"] for i in run["result"] if i["type"] == "output_text"]
    found = _ANSWER.search(outputs[-1]) if outputs else None
    return found.group(1).strip() if found else None


def _by_trajectory(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        grouped.setdefault(event["trajectory_id"], []).append(event)
    return {tid: sorted(group, key=lambda e: (e["time"], e["replica"], e["seq"])) for tid, group in grouped.items()}


@pytest.mark.slow
def test_every_tagged_call_is_recorded_in_order_with_its_reasoning(captured: Captured) -> None:
    """Per trajectory, the recorded calls are the run file's tool calls in order, then /finish with the final
    output; each carries the reasoning written since the previous call, and the first one the question."""
    runs = _runs(captured.runs)
    ids = captured.summary["trajectory_ids"]
    assert len(runs) == N_QUESTIONS and set(ids) == {run["query_id"] for run in runs.values()}
    assert len(set(ids.values())) == N_QUESTIONS
    traces = _by_trajectory(captured.events)
    assert set(traces) == set(ids.values())
    by_qid = {q.qid: q for q in captured.world.questions}
    for run in runs.values():
        qid = run["query_id"]
        events, expected = traces[ids[qid]], _expected_calls(run)
        assert [e["call"] for e in events] == [c["call"] for c in expected], qid
        for n, (event, call) in enumerate(zip(events, expected, strict=True)):
            where = f"{qid} call {n} ({call['call']})"
            assert event["lrat_capture"] == 1
            assert event["model"] == captured.served, where
            assert event["reasoning"] == [r for r in call["reasoning"] if r.strip()], where
            if n == 0:
                assert (event["question"], event["question_id"]) == (by_qid[qid].text, qid), where
            else:
                assert (event["question"], event["question_id"]) == (None, None), where
            if call["call"] == "search":
                assert event["query"] == call["query"] and event["k"] == run["metadata"]["k"], where
                assert len(call["shown"]) == len(event["results"]) == run["metadata"]["k"], where
                assert {r["docid"] for r in event["results"]} == set(call["shown"]), where  # display is shuffled
            elif call["call"] == "get_document":
                assert (event["docid"], event["found"]) == (call["docid"], True), where
            else:
                assert event["answer"] == call["answer"], where
                assert event["success"] is (_exact_answer(run) == run["answer"]), where


@pytest.mark.slow
def test_untagged_calls_are_not_recorded(captured: Captured) -> None:
    """Only the agents' tagged calls are in the shards: one event per search, browse and finish of the runs, none for
    the untagged /search, /get_document and /finish calls, nor for driver.simulate's /search_batch calls."""
    runs = _runs(captured.runs).values()
    calls = sum(sum(run["tool_call_counts"].values()) + 1 for run in runs)
    assert len(captured.events) == calls
    assert not {e.get("query") for e in captured.events} & set(UNTAGGED)
    assert not any(e["call"] == "search_batch" for e in captured.events)


@pytest.mark.slow
def test_the_summary_and_run_files_agree(captured: Captured) -> None:
    """The summary counts what the run files hold; the run files name the served model as their retriever."""
    runs = list(_runs(captured.runs).values())
    summary, n = captured.summary, len(runs)
    assert captured.progress == n == summary["trajectories"] == N_QUESTIONS
    assert summary["success"] == round(sum(_exact_answer(r) == r["answer"] for r in runs) / n, 4)
    statuses = ["completed" if r["status"] == "completed" else "incomplete" for r in runs]
    assert summary["by_status"] == {s: statuses.count(s) for s in set(statuses)}
    searches = [r["tool_call_counts"].get("search", 0) for r in runs]
    browses = sum(r["tool_call_counts"].get("get_document", 0) for r in runs)
    assert summary["avg_searches"] == round(sum(searches) / n, 3) and summary["avg_searches"] > 0
    assert summary["avg_browses"] == round(browses / n, 3)
    assert summary["rounds"] == max(searches)
    name = f"lrat-serve {captured.served['name']}/{captured.served['version']}"
    assert {r["metadata"]["retriever"] for r in runs} == {name}
    assert summary["held_out_evidence"]["docs"] > 0


@pytest.mark.slow
def test_the_agents_live_the_same_runs_as_with_the_batching_driver(captured: Captured) -> None:
    """One call per search, many agents at once, still the same random stream per question: the runs equal
    driver.simulate's over the same service (same searches, browses and answers), and so do the summaries."""
    mine, theirs = _runs(captured.runs), _runs(captured.batched_runs)
    assert sorted(mine) == sorted(theirs)
    for name, run in mine.items():
        other = theirs[name]
        assert run.pop("metadata")["retriever"].startswith("lrat-serve ")
        other.pop("metadata")
        assert run == other, name
    for key in ("trajectories", "success", "by_status", "avg_searches", "avg_browses", "rounds",
                "held_out_evidence"):
        assert captured.summary[key] == captured.batched_summary[key], key


@pytest.mark.slow
def test_the_service_sealed_its_shards_on_shutdown(captured: Captured) -> None:
    """Stopping the service (SIGTERM) seals the open shard: nothing is left for seal_orphans."""
    assert captured.sealed_by_hand is None, captured.sealed_by_hand


@pytest.mark.slow
def test_a_refused_call_raises_with_its_route_and_status(captured: Captured) -> None:
    """A call the service refuses stops the run with the route and the HTTP status, not with a half-recorded run."""
    error = captured.refused
    assert (error.route, error.status) == ("search", 400), error
    assert "POST /search: HTTP 400" in str(error)
