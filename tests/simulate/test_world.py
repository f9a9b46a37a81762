"""The generated world: deterministic, well-formed, split by question, and scalable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lrat.simulate.export import FILES, world_stats, write_world
from lrat.simulate.store import load_world, save_state
from lrat.simulate.world import generate_world

SMALL = {"n_docs": 400, "n_questions": 80}


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path: Path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        world = generate_world(seed, **SMALL)
        write_world(world, tmp_path / name)
        save_state(world, tmp_path / name)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a")["corpus.jsonl"] != files(tmp_path / "c")["corpus.jsonl"]
    assert set(files(tmp_path / "a")) == {*FILES, "simulation.json"}


def test_documents_questions_and_evidence_are_consistent(tmp_path: Path):
    world = generate_world(7, **SMALL)
    docids = {d["docid"] for d in world.docs}
    assert len(world.docs) == 400 and len(docids) == 400 and len(world.questions) == 80
    for doc in world.docs:
        assert doc["text"].startswith(doc["title"] + "\n") and 40 <= len(doc["text"].split()) <= 160
    by_docid = world.entity_by_docid()
    for q in world.questions:
        assert 2 <= len(q.evidence) <= 4 and set(q.evidence) <= docids and set(q.golds) <= docids
        assert q.answer not in q.text  # the answer is never named
        chain = [world.entities[i] for i in q.chain]
        for page, nxt in zip(q.evidence, chain[1:], strict=True):
            assert nxt.name in by_docid[page].name or nxt.name in next(d["text"] for d in world.docs
                                                                         if d["docid"] == page)
    splits = [q.split for q in world.questions]
    assert {"train", "dev", "test"} == set(splits) and splits.count("test") == 16


def test_files_follow_the_benchmark_layout(tmp_path: Path):
    world = generate_world(3, **SMALL)
    write_world(world, tmp_path)
    save_state(world, tmp_path)
    queries = (tmp_path / "queries.tsv").read_text().splitlines()
    assert len(queries) == 80 and all(len(line.split("\t")) == 2 for line in queries)
    qrels = [line.split() for line in (tmp_path / "qrel_evidence.txt").read_text().splitlines()]
    assert all(len(row) == 4 and row[3] == "1" for row in qrels)
    splits = json.loads((tmp_path / "splits.json").read_text())
    test_ids = set(splits["test"])
    assert test_ids and not test_ids & set(splits["train"])
    truth = [json.loads(line) for line in (tmp_path / "ground_truth.jsonl").read_text().splitlines()]
    assert {t["query_id"] for t in truth} == {line.split("\t")[0] for line in queries}
    loaded = load_world(tmp_path)
    assert [q.text for q in loaded.questions] == [q.text for q in world.questions]
    assert loaded.docs == world.docs
    stats = world_stats(world)
    assert stats["documents"] == 400 and stats["questions_by_split"]["test"] == 16
    assert 0 <= stats["test_evidence_also_train_evidence"] <= stats["test_evidence_documents"]


def test_too_few_entities_for_the_questions_is_a_clear_error():
    with pytest.raises(ValueError, match="raise world.n_docs"):
        generate_world(1, n_docs=30, n_questions=500)


@pytest.mark.slow
def test_scales_to_100k_documents():
    world = generate_world(1, n_docs=100_000, n_questions=3000)
    assert len(world.docs) == 100_000 and len({d["docid"] for d in world.docs}) == 100_000
