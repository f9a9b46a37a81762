"""Writing a world in the files real benchmarks ship (BrowseComp-Plus layout), and its statistics."""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from lrat.io import atomic_open, dumps_line, write_json
from lrat.simulate.world import World

FILES = ("corpus.jsonl", "queries.tsv", "qrel_evidence.txt", "qrel_golds.txt", "ground_truth.jsonl", "splits.json")


def write_world(world: World, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "corpus.jsonl") as fh:
        fh.writelines(dumps_line(d) for d in world.docs)
    with atomic_open(out / "queries.tsv") as fh:
        fh.writelines(f"{q.qid}\t{q.text}\n" for q in world.questions)
    for name, attr in (("qrel_evidence.txt", "evidence"), ("qrel_golds.txt", "golds")):
        with atomic_open(out / name) as fh:
            fh.writelines(f"{q.qid} 0 {d} 1\n" for q in world.questions for d in getattr(q, attr))
    with atomic_open(out / "ground_truth.jsonl") as fh:
        fh.writelines(dumps_line({"query_id": q.qid, "question": q.text, "answer": q.answer,
                                  "hops": len(q.evidence)}) for q in world.questions)
    splits: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    for q in world.questions:
        splits[q.split].append(q.qid)
    write_json(out / "splits.json", splits)


def world_stats(world: World) -> dict[str, Any]:
    words = [len(d["text"].split()) for d in world.docs]
    evidence_by_split: dict[str, set[str]] = {}
    for q in world.questions:
        evidence_by_split.setdefault(q.split, set()).update(q.evidence)
    test_evidence = evidence_by_split.get("test", set())
    return {
        "documents": len(world.docs),
        "entities": len(world.entities),
        "background_documents": len(world.docs) - len(world.entities),
        "entities_by_kind": dict(sorted(Counter(e.kind for e in world.entities).items())),
        "document_words": {"mean": round(statistics.mean(words), 1), "min": min(words), "max": max(words)},
        "questions": len(world.questions),
        "questions_by_split": dict(Counter(q.split for q in world.questions)),
        "questions_by_hops": {str(k): v for k, v in sorted(Counter(len(q.evidence) for q in world.questions).items())},
        "named_entity_share": round(statistics.mean(
            sum(q.named[:-1]) / len(q.evidence) for q in world.questions), 3),
        "test_evidence_documents": len(test_evidence),
        "test_evidence_also_train_evidence": len(test_evidence & evidence_by_split.get("train", set())),
    }
