"""The held-out questions every later stage reads (data/split/splits.json).

A simulated world ships its own split; a user's benchmark (BrowseComp-Plus ships none) gets a seeded split by
question here. Which held-out questions the user's logs already answered is reported, so that mining can leave
those trajectories out and the evaluation stays on questions the retriever never learned from.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from lrat.benchmark import TRAIN, read_splits
from lrat.io import write_json

if TYPE_CHECKING:
    from lrat.settings import Settings

EXAMPLES = 20


@dataclass(frozen=True)
class SplitSettings:
    source: str        # data.source
    test: float        # held-out share of the questions with evidence
    dev: float
    file: Path | None  # a splits.json the benchmark ships, used as it is
    seed: int


def split_settings(settings: Settings) -> SplitSettings:
    """What `lrat split` reads of params.yaml: `data.source`, `split:` and `seed`."""
    split = settings.split
    return SplitSettings(settings.data.source, float(split.test), float(split.dev), split.file, settings.seed)


def seeded_split(questions: list[str], test: float, dev: float, seed: int) -> dict[str, list[str]]:
    """``test``/``dev`` shares of ``questions`` by a seeded shuffle; each list keeps the questions' order."""
    order = sorted(questions)
    random.Random(seed).shuffle(order)
    n_test, n_dev = round(len(order) * test), round(len(order) * dev)
    chosen = {"test": set(order[:n_test]), "dev": set(order[n_test:n_test + n_dev])}
    return {name: [q for q in questions if q in ids] for name, ids in chosen.items() if ids or name == "test"}


def trajectory_questions(path: Path) -> Counter[str]:
    """query_id → trajectories in a normalized trajectories.jsonl (only that key is kept)."""
    counts: Counter[str] = Counter()
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                qid = orjson.loads(line).get("query_id")
            except (ValueError, AttributeError):
                raise ValueError(f"{path}:{number}: not a normalized trajectory (run `lrat ingest`)") from None
            if qid is not None:
                counts[str(qid)] += 1
    return counts


def make_split(settings: SplitSettings, queries: Path, qrels_evidence: Path, out: Path,
               trajectories: Path | None = None, metrics: Path | None = None) -> dict[str, Any]:
    """Write ``out``/splits.json; returns the report (also ``metrics``). ValueError for queries and qrels of two
    benchmarks, a split naming unknown questions, or an empty held-out split."""
    from lrat.evaluation.offline import read_qrels, read_queries

    texts, qrels = read_queries(queries), read_qrels(qrels_evidence)
    with_evidence = [q for q in texts if qrels.get(q)]
    if not with_evidence:
        raise ValueError(f"{queries} ({len(texts)} questions, e.g. {_few(texts)}) and {qrels_evidence} "
                         f"({len(qrels)} questions, e.g. {_few(qrels)}) share no question with evidence: qrels or "
                         "queries for another benchmark?")
    if settings.file is not None or settings.source == "simulated":
        path = settings.file or queries.parent / "splits.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: data.source is simulated, whose world ships its splits "
                                    "(set data.source: logs for your own data, or split.file: null)"
                                    if settings.file is None else f"split.file: {path} not found")
        splits, origin = read_splits(path), str(path)
        unknown = [q for qids in splits.values() for q in qids if q not in texts]
        if unknown:
            raise ValueError(f"{path}: {len(unknown)} question(s) not in {queries}, e.g. {_few(unknown)}: splits "
                             "for another benchmark?")
    else:
        splits = seeded_split(with_evidence, settings.test, settings.dev, settings.seed)
        held = {q for name, qids in splits.items() for q in qids}
        splits = {TRAIN: [q for q in texts if q not in held], **splits}
        origin = f"seeded split by question (seed {settings.seed}, test {settings.test}, dev {settings.dev})"
    held_out = {q for name, qids in splits.items() if name != TRAIN for q in qids}
    if not splits.get("test") or not any(qrels.get(q) for q in splits["test"]):
        raise ValueError(f"the test split is empty (no question with evidence): {len(with_evidence)} question(s) "
                         f"of {queries} have evidence in {qrels_evidence}; raise split.test or add questions")
    report: dict[str, Any] = {
        "source": settings.source, "from": origin, "splits": {name: len(qids) for name, qids in splits.items()},
        "questions": len(texts), "with_evidence": len(with_evidence),
        "qrels_questions_not_in_queries": sum(q not in texts for q in qrels),
    }
    if trajectories is not None:
        counts = trajectory_questions(trajectories)
        leaking = sorted(q for q in counts if q in held_out)
        report["logs"] = {
            "trajectories": sum(counts.values()), "questions": len(counts),
            "unknown_questions": sum(q not in texts for q in counts),
            "held_out_questions_with_trajectories": len(leaking),
            "held_out_trajectories": sum(counts[q] for q in leaking),
            "examples": leaking[:EXAMPLES],
        }
    write_json(out / "splits.json", splits)
    if metrics is not None:
        write_json(metrics, report)
    return report


def _few(items: Any) -> str:
    return ", ".join(repr(q) for q in list(items)[:5]) or "none"
