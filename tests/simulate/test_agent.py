"""The simulated agent: real run files, deterministic, and better off with a better retriever."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from lrat.ingest.runner import ingest
from lrat.simulate.agent import AgentConfig
from lrat.simulate.driver import simulate
from lrat.simulate.export import write_world
from lrat.simulate.oracle import OracleRetriever
from lrat.simulate.store import save_state
from lrat.simulate.world import World, generate_world

from .lexical import LexicalRetriever

CFG = AgentConfig()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path]:
    folder = tmp_path_factory.mktemp("world")
    w = generate_world(11, n_docs=600, n_questions=150)
    write_world(w, folder)
    save_state(w, folder)
    return w, folder


@pytest.fixture(scope="module")
def lexical(world: tuple[World, Path]) -> LexicalRetriever:
    return LexicalRetriever(world[0].docs)


def run_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("run_*.json"))}


def test_run_files_are_lrat_fork_runs_that_ingest_without_rejects(world, lexical, tmp_path: Path):
    w, folder = world
    summary = simulate(w, w.questions[:30], lexical, CFG, 1, tmp_path / "runs")
    assert summary["trajectories"] == 30 and len(run_files(tmp_path / "runs")) == 30
    result = ingest([tmp_path / "runs"], tmp_path / "ing", "auto", folder / "corpus.jsonl",
                    qrels_evidence=folder / "qrel_evidence.txt", progress=False)
    assert result["rejected"] == 0 and result["trajectories"] == 30 and result["by_format"] == {"bcp": 30}
    records = [json.loads(line) for line in (tmp_path / "ing" / "trajectories.jsonl").read_text().splitlines()]
    for record in records:
        run = json.loads((tmp_path / "runs" / Path(record["source"]["path"]).name).read_text())
        steps = record["steps"]
        assert sum(s["kind"] == "search" for s in steps) == run["tool_call_counts"].get("search", 0)
        assert sum(s["kind"] == "browse" for s in steps) == run["tool_call_counts"].get("get_document", 0)
        assert all(len(s["results"]) == 10 for s in steps if s["kind"] == "search")
        assert (record["status"] == "completed") == (run["result"][-1]["type"] == "output_text")
        for browse in (s for s in steps if s["kind"] == "browse"):
            assert browse["found"] and browse["attributed_search"] is not None  # agents browse what they saw
            assert browse["reasoning_after"]


def test_same_seed_same_bytes_other_seed_other_runs(world, lexical, tmp_path: Path):
    w, _ = world
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        simulate(w, w.questions[:20], lexical, CFG, seed, tmp_path / name)
    assert run_files(tmp_path / "a") == run_files(tmp_path / "b")
    assert run_files(tmp_path / "a") != run_files(tmp_path / "c")


def test_a_run_does_not_depend_on_the_other_questions_beside_it(world, lexical, tmp_path: Path):
    w, _ = world
    simulate(w, w.questions[:20], lexical, CFG, 3, tmp_path / "all")
    simulate(w, w.questions[5:6], lexical, CFG, 3, tmp_path / "one")
    name = f"run_{w.questions[5].qid}.json"
    assert (tmp_path / "all" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()


def test_an_oracle_retriever_gives_more_success_with_fewer_searches(world, tmp_path: Path):
    w, _ = world
    weak = LexicalRetriever(w.docs, words=12)  # sees only the opening of each page
    base = simulate(w, w.questions, weak, CFG, 2, tmp_path / "base")
    oracle = simulate(w, w.questions, OracleRetriever(weak, w), CFG, 2, tmp_path / "oracle")
    assert oracle["success"] > base["success"]
    assert oracle["avg_searches"] < base["avg_searches"]


def test_reasoning_is_longer_after_evidence_and_some_useless_pages_are_rejected(world, lexical, tmp_path: Path):
    w, _ = world
    simulate(w, w.questions, lexical, CFG, 5, tmp_path / "runs")
    evidence = {q.qid: set(q.evidence) for q in w.questions}
    after_evidence, after_other, negatives = [], [], 0
    for path in (tmp_path / "runs").glob("run_*.json"):
        run = json.loads(path.read_text())
        items = run["result"]
        for item, nxt in zip(items, items[1:], strict=False):
            if item["tool_name"] == "get_document":
                docid = json.loads(item["arguments"])["docid"]
                text = nxt["output"]
                (after_evidence if docid in evidence[run["query_id"]] else after_other).append(len(text.split()))
                negatives += "not relevant" in text or "unrelated" in text or "no useful information" in text
    assert statistics.mean(after_evidence) > 1.2 * statistics.mean(after_other)
    assert negatives > 0


def test_running_out_of_searches_ends_without_an_answer_or_with_a_guess(world, lexical, tmp_path: Path):
    w, _ = world
    cfg = AgentConfig(max_searches=1, p_guess=0.5, p_truncate=0.0)
    summary = simulate(w, w.questions, lexical, cfg, 9, tmp_path / "runs")
    assert summary["avg_searches"] <= 1
    statuses = {json.loads(p.read_text())["status"] for p in (tmp_path / "runs").glob("run_*.json")}
    assert "exceed available llm calls" in statuses and "completed" in statuses


@pytest.mark.slow
def test_an_oracle_beats_the_packaged_minilm_for_the_agent(world):
    """The same claim with the real base retriever (MiniLM + FAISS): the gap the flywheel is meant to close."""
    from lrat.retrieval.local import LocalRetriever

    w, folder = world
    base = LocalRetriever.build("base", folder / "corpus.jsonl", None, progress=False)
    for seed in (2, 3):
        plain = simulate(w, w.questions, base, CFG, seed, folder.parent / f"base{seed}")
        oracle = simulate(w, w.questions, OracleRetriever(base, w), CFG, seed, folder.parent / f"oracle{seed}")
        assert oracle["success"] > plain["success"]
        assert oracle["avg_searches"] < 0.85 * plain["avg_searches"]


def test_runs_report_how_much_held_out_evidence_they_browsed(world, lexical, tmp_path: Path):
    w, _ = world
    train = [q for q in w.questions if q.split == "train"]
    test_evidence = {d for q in w.questions if q.split == "test" for d in q.evidence}
    summary = simulate(w, train, lexical, CFG, 4, tmp_path / "runs", held_out=test_evidence)
    browsed = set()
    for path in (tmp_path / "runs").glob("run_*.json"):
        run = json.loads(path.read_text())
        assert run["query_id"] in {q.qid for q in train}
        browsed |= {json.loads(i["arguments"])["docid"] for i in run["result"] if i["tool_name"] == "get_document"}
    report = summary["held_out_evidence"]
    assert report["docs"] == len(test_evidence)
    assert report["browsed_in_these_runs"] == len(browsed & test_evidence) > 0


def _described_hop(w: World) -> tuple:
    """A question whose first hop is described (not named), with its page and a look-alike page: another entity's
    page that states the same signature phrase."""
    from lrat.simulate.agent import WorldView, _Run

    view = WorldView(w.entities, {d["docid"]: (d["title"], d["text"]) for d in w.docs})
    for q in w.questions:
        if q.named[0]:
            continue
        target = w.entities[q.chain[0]]
        twins = [e for e in w.entities if e.signature[1] == target.signature[1] and e.id not in q.chain]
        if twins:
            return q, view, target.docid, twins[0].docid, _Run
    raise AssertionError("no described hop with a look-alike page in the test world")


def test_a_described_page_is_recognised_by_what_its_snippet_shows(world):
    import random

    w, _ = world
    q, view, page, twin, run_class = _described_hop(w)
    flat = {"position_top": 1.0, "position_bottom": 1.0}
    p = {}
    for words in (4, 300):  # a snippet too short to show the clue's phrase, and one showing the whole page
        cfg = AgentConfig(snippet_words=words, p_browse_described=0.9, p_browse_described_unshown=0.2,
                          p_browse_lookalike=0.3, **flat)
        run = run_class(q, view, cfg, random.Random(0))
        p[words] = (run.p_browse(page, 1, set(), 0), run.p_browse(twin, 1, set(), 0))
    assert p[300] == (0.9, 0.3)  # shown: the page looks like the one it needs, and so does the look-alike
    assert p[4][0] == 0.2 and p[4][1] < 0.3  # not shown: less sure of the page, and the look-alike is no lure
    legacy = run_class(q, view, AgentConfig(snippet_words=4, p_browse_described=0.9, **flat), random.Random(0))
    assert legacy.p_browse(page, 1, set(), 0) == 0.9  # unshown probability unset: recognition ignores the snippet
