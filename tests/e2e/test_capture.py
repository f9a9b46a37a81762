"""Capture on the default world, end to end: the packaged MiniLM's bento served by a real `bentoml serve` with
capture on, the simulated agent calling it over HTTP (trajectory ids in the header, its reasoning in the field) and
writing its own run files too. `lrat ingest` of the capture shards gives the same trajectories (searches, results,
browses, reasoning, answers) as `lrat ingest` of the run files, `lrat mine` the same labels, and calls without an id
are not recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.serving.bento_world import world_bento

pytestmark = pytest.mark.slow
QUESTIONS = 60  # train questions of the default world the agent answers through the service
LRAT = [sys.executable, "-m", "lrat.cli"]


def lrat(*args: str, cwd: Path) -> None:
    done = subprocess.run([*LRAT, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def steps_view(record: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What a trajectory is made of, for comparing two ingests of it. A search's results are compared as a set: the
    run file holds them in the order the agent displayed them (shuffled, `agent.shuffle_display`), the service in
    the order it ranked them."""
    out: list[tuple[Any, ...]] = []
    for step in record["steps"]:
        kind = step["kind"]
        if kind == "reasoning":
            out.append((kind, step["text"]))
        elif kind == "search":
            out.append((kind, step["ordinal"], step["query"], frozenset(r["docid"] for r in step["results"])))
        elif kind == "browse":
            out.append((kind, step["docid"], step["found"], step["attributed_search"], step["reasoning_after"],
                        step["repeat"]))
        else:
            out.append((kind, step.get("text")))
    return out


def by_question(path: Path) -> dict[str, dict[str, Any]]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len({r["query_id"] for r in records}) == len(records)
    return {r["query_id"]: r for r in records}


def label_rows(path: Path) -> Counter:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    # negatives as a set: the run file lists a search's results in displayed order, the service in ranked order
    return Counter((r["query_id"], r["search_ordinal"], r["query"], r["pos_id"], tuple(sorted(r["neg_ids"])),
                    r["reasoning_len"], r["satisfied"], round(r["weight"], 9), r["judge"]["verdict"]) for r in rows)


def test_the_service_records_what_the_agents_own_run_files_say(tmp_path: Path) -> None:
    from lrat.mining.stage import mine_stage
    from lrat.serving.capture import OPEN, SEALED, CaptureConfig, seal_orphans
    from lrat.serving.process import read_counter, serving
    from lrat.settings import load_settings
    from lrat.simulate.http_agent import simulate_over_http
    from lrat.simulate.pipeline import build_world
    from lrat.simulate.store import load_world
    from tests.serving.test_service import call

    settings = load_settings(REPO / "params.yaml")
    world_dir = tmp_path / "world"
    build_world(world_dir, settings.seed, settings.world, None, None, retriever="", progress=False)
    world = load_world(world_dir)
    corpus = world_dir / "corpus.jsonl"
    record = world_bento(world_dir, tmp_path)
    questions = [q for q in world.questions if q.split == "train"][:QUESTIONS]
    capture = tmp_path / "capture"
    import os

    env = {"BENTOML_HOME": os.environ["BENTOML_HOME"], **CaptureConfig(dir=str(capture)).to_env()}
    with serving(record["bento"], tmp_path / "serve.log", env=env) as (url, _):
        for q in questions[:5]:  # callers that do not tag their calls are served, not recorded
            assert call(url, "search", {"query": q.text, "k": 5})[0] == 200
        summary = simulate_over_http(world, questions, url, settings.agent, settings.seed, tmp_path / "runs")
        assert call(url, "get_document", {"docid": world.docs[0]["docid"]})[0] == 200
        recorded = read_counter(url, "lrat_capture_events_recorded_total")
    seal_orphans(capture)
    assert not list(capture.glob(f"*{OPEN}")) and list(capture.glob(f"*{SEALED}"))

    runs = sorted((tmp_path / "runs").glob("run_*.json"))
    assert len(runs) == QUESTIONS and summary["trajectories"] == QUESTIONS
    calls = 0
    for path in runs:
        items = json.loads(path.read_text(encoding="utf-8"))["result"]
        calls += sum(i["type"] == "tool_call" for i in items) + 1  # every tool call, and /finish
    events = [json.loads(line) for shard in capture.glob(f"*{SEALED}")
              for line in shard.read_text(encoding="utf-8").splitlines()]
    assert len(events) == calls  # exactly the tagged calls: no untagged one was recorded
    assert recorded <= calls

    lrat("ingest", str(tmp_path / "runs"), "--out", str(tmp_path / "from-runs"), "--quiet", cwd=tmp_path)
    lrat("ingest", str(capture), "--out", str(tmp_path / "from-service"), "--quiet", cwd=tmp_path)
    service_summary = json.loads((tmp_path / "from-service" / "summary.json").read_text(encoding="utf-8"))
    assert service_summary["by_format"] == {"service": QUESTIONS} and service_summary["rejected"] == 0
    from_runs = by_question(tmp_path / "from-runs" / "trajectories.jsonl")
    from_service = by_question(tmp_path / "from-service" / "trajectories.jsonl")
    assert sorted(from_runs) == sorted(from_service) == sorted(q.qid for q in questions)
    for qid, run in from_runs.items():
        captured = from_service[qid]
        assert steps_view(captured) == steps_view(run), qid
        assert captured["status"] == run["status"] and captured["question"] == run["question"]
        assert (captured["final_answer"] or {}).get("exact") == (run["final_answer"] or {}).get("exact")
        assert captured["warnings"] == run["warnings"]
        assert captured["source"]["retriever"] == f"{record['served_model']['name']}/" \
                                                  f"{record['served_model']['version']}"

    mined = {}
    for name in ("from-runs", "from-service"):
        out = tmp_path / name / "labels.jsonl"
        mine_stage(tmp_path / name / "trajectories.jsonl", corpus, out, settings, None,
                   overrides={"judge_cache": str(tmp_path / f"{name}-verdicts.sqlite")}, progress=False)
        mined[name] = label_rows(out)
    assert sum(mined["from-runs"].values()) > QUESTIONS  # a few labels per trajectory
    assert mined["from-service"] == mined["from-runs"]
