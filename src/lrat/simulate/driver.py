"""Runs many simulated agents side by side, batching their searches: every round, each agent still running asks
one query, and the retriever answers all of them in one batch (one encode call, one FAISS search).

Each question has its own random stream (seeded by the run seed and the question id), so a run file does not
depend on which other questions ran beside it.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lrat.io import write_json
from lrat.retrieval.base import Retriever
from lrat.simulate.agent import AgentConfig, WorldView, run_agent
from lrat.simulate.runfile import run_record
from lrat.simulate.world import Question, World


def simulate(
    world: World, questions: list[Question], retriever: Retriever, cfg: AgentConfig, seed: int, out: Path,
    progress: Callable[[int], None] | None = None, held_out: set[str] | None = None,
) -> dict[str, Any]:
    """``held_out``: evidence docids of questions kept out of training; the summary says how many of them these
    runs browsed (they become training positives, as pages shared across questions do in a real corpus)."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("run_*.json"):
        stale.unlink()
    view = WorldView(world.entities, {d["docid"]: (d["title"], d["text"]) for d in world.docs})
    start = time.perf_counter()
    agents = {}
    pending: dict[str, str] = {}
    outcomes: list[dict[str, Any]] = []

    def finish(q: Question, run: dict[str, Any]) -> None:
        write_json(out / f"run_{q.qid}.json", run_record(q, run, retriever.name, seed, cfg.k, cfg.snippet_words))
        outcomes.append(outcome(q, run))
        if progress is not None:
            progress(1)

    by_id = {q.qid: q for q in questions}
    for q in questions:
        gen = run_agent(q, view, cfg, random.Random(f"{seed}:{q.qid}"))
        try:
            pending[q.qid] = next(gen)
            agents[q.qid] = gen
        except StopIteration as stop:
            finish(q, stop.value)
    rounds = 0
    while pending:
        rounds += 1
        qids = list(pending)
        results = retriever.search_batch([pending[i] for i in qids], cfg.k)
        for qid, hits in zip(qids, results, strict=True):
            try:
                pending[qid] = agents[qid].send(hits)
            except StopIteration as stop:
                del pending[qid]
                finish(by_id[qid], stop.value)
    return summarize(outcomes, time.perf_counter() - start, rounds, held_out)


def outcome(q: Question, run: dict[str, Any]) -> dict[str, Any]:
    """What a summary keeps of one finished run."""
    browsed = [json.loads(i["arguments"])["docid"] for i in run["result"] if i["tool_name"] == "get_document"]
    return {"qid": q.qid, "status": run["status"], "correct": run["answer"] == q.answer,
            "searches": run["searches"], "browses": len(browsed), "browsed": set(browsed)}


def summarize(outcomes: list[dict[str, Any]], elapsed: float, rounds: int, held_out: set[str] | None = None
              ) -> dict[str, Any]:
    n = len(outcomes)
    searches = sum(o["searches"] for o in outcomes)
    browses = sum(o["browses"] for o in outcomes)
    summary = {
        "trajectories": n,
        "success": round(sum(o["correct"] for o in outcomes) / n, 4) if n else None,
        "by_status": dict(Counter("completed" if o["status"] == "completed" else "incomplete" for o in outcomes)),
        "avg_searches": round(searches / n, 3) if n else None,
        "avg_browses": round(browses / n, 3) if n else None,
        "browses_per_search": round(browses / searches, 4) if searches else None,
        "rounds": rounds,
        "seconds": round(elapsed, 2),
        "trajectories_per_second": round(n / elapsed, 1) if elapsed > 0 else None,
    }
    if held_out is not None:
        browsed = set().union(*(o["browsed"] for o in outcomes))
        summary["held_out_evidence"] = {"docs": len(held_out), "browsed_in_these_runs": len(held_out & browsed),
                                        "share": round(len(held_out & browsed) / len(held_out), 4)
                                        if held_out else None}
    return summary
