"""Where the held-out questions come from: one corpus, queries, evidence qrels and a splits file (and, optionally,
gold qrels: the documents that hold the answer, scored beside the evidence as BrowseComp-Plus does).

The simulated world keeps all four in one folder (plus ``simulation.json`` for the simulated agent). A user's
benchmark (BrowseComp-Plus layout or their own) has its files wherever ``params.yaml``'s ``data:`` says, and its
split comes from ``lrat split`` (data/split/splits.json), since real benchmarks ship none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lrat.settings import Data

SPLITS = Path("data/split/splits.json")  # `lrat split` writes it; every later stage reads it


@dataclass(frozen=True)
class Benchmark:
    corpus: Path
    queries: Path
    qrels_evidence: Path
    splits: Path
    world: Path | None = None  # the simulated world's folder: the agent-level evaluation runs only on one
    qrels_golds: Path | None = None  # gold qrels; None, or a file that is not there: no gold-qrels scores

    @classmethod
    def from_folder(cls, folder: Path) -> Benchmark:
        """The world layout: corpus.jsonl, queries.tsv, qrel_evidence.txt, splits.json in one folder, and
        qrel_golds.txt when the folder has one."""
        folder = Path(folder)
        golds = folder / "qrel_golds.txt"
        return cls(folder / "corpus.jsonl", folder / "queries.tsv", folder / "qrel_evidence.txt",
                   folder / "splits.json", folder, golds if golds.is_file() else None)

    @classmethod
    def from_settings(cls, data: Data, splits: Path | None = None) -> Benchmark:
        """``data:`` of params.yaml. With ``source: simulated`` the corpus's folder is the world (its
        simulation.json lets the simulated agent answer); with ``source: logs`` there is no world to replay."""
        return cls(data.corpus, data.queries, data.qrels_evidence, Path(splits or SPLITS),
                   data.corpus.parent if data.source == "simulated" else None, data.qrels_golds)

    @property
    def name(self) -> str:
        """A short label for reports and MLflow keys: the folder holding the queries."""
        return (self.world or self.queries.resolve().parent).resolve().name or "benchmark"

    @property
    def golds(self) -> Path | None:
        """The gold qrels file when there is one to read (``qrels_golds`` set and present), else None."""
        return self.qrels_golds if self.qrels_golds is not None and Path(self.qrels_golds).is_file() else None

    def files(self) -> dict[str, Path]:
        """The four files under the names the world layout gives them (hashes and checks use these names; the
        gold qrels are not among them, so a benchmark's hash does not depend on them)."""
        return {"corpus.jsonl": self.corpus, "queries.tsv": self.queries, "qrel_evidence.txt": self.qrels_evidence,
                "splits.json": self.splits}

    def describe(self) -> dict[str, str]:
        return {"corpus": str(self.corpus), "queries": str(self.queries), "qrels_evidence": str(self.qrels_evidence),
                "splits": str(self.splits), "world": str(self.world) if self.world else "",
                "qrels_golds": str(self.qrels_golds) if self.qrels_golds else ""}


def as_benchmark(value: Benchmark | Path | str) -> Benchmark:
    """Callers may still pass a world folder."""
    return value if isinstance(value, Benchmark) else Benchmark.from_folder(Path(value))


TRAIN = "train"  # the one split whose questions may have training trajectories


def read_splits(path: Path) -> dict[str, list[str]]:
    """A splits.json: ``{name: [question ids]}``."""
    try:
        splits = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if not isinstance(splits, dict) or not all(isinstance(v, list) for v in splits.values()):
        raise ValueError(f'{path}: expected {{"train": [question ids], "test": [...]}}')
    return {str(k): [str(q) for q in v] for k, v in splits.items()}


def held_out_questions(path: Path) -> set[str]:
    """Every question of a split other than ``train``: none of them may reach the training labels."""
    return {q for name, qids in read_splits(path).items() if name != TRAIN for q in qids}
