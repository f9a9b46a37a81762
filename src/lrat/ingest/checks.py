"""Do the run files, the corpus and the benchmark files belong together?

Users point ``lrat ingest`` at their own logs, corpus and benchmark, and a mismatch (another corpus, another
benchmark's qrels) otherwise passes silently and only shows up later as empty labels. These checks stream with the
ingestion and keep only counters, hashes of the docids not found, the trajectories' query_ids and a few examples,
so memory stays flat on 100k-document corpora and many runs.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The corpus is judged to be another one when more than this share of the distinct docids the runs reference is
# missing from it ...
WRONG_CORPUS_SHARE = 0.5
# ... and the runs reference at least this many distinct docids (fewer is too little evidence to stop the run).
WRONG_CORPUS_MIN_DOCIDS = 20
EXAMPLES = 5  # examples kept per list (docids, query_ids)


def _hash(text: str) -> int:
    """8 bytes per docid not in the corpus, instead of the string: a wrong corpus makes this set large."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _sample(ids: Iterable[str], limit: int = EXAMPLES) -> list[str]:
    """A stable, readable sample: numeric-looking ids in numeric order."""
    return heapq.nsmallest(limit, ids, key=lambda s: (len(s), s))


def _listing(ids: Iterable[str], total: int) -> str:
    shown = _sample(ids)
    return ", ".join(shown) + (", ..." if total > len(shown) else "") if shown else "none"


@dataclass
class _DocidTally:
    """Docid references of one kind (search results or browses) and those missing from the corpus."""

    references: int = 0
    missing: int = 0
    missing_ids: set[int] = field(default_factory=set)
    examples: dict[str, str] = field(default_factory=dict)  # docid -> file:line where it was first seen

    def summary(self) -> dict[str, Any]:
        return {
            "references": self.references,
            "missing_references": self.missing,
            "missing_docids": len(self.missing_ids),
            "examples": [{"docid": d, "where": w} for d, w in self.examples.items()],
        }

    def text(self) -> str:
        shown = ", ".join(f"{d} ({w})" for d, w in self.examples.items())
        more = ", ..." if len(self.missing_ids) > len(self.examples) else ""
        return (f"{self.missing} of {self.references} references, {len(self.missing_ids)} distinct docids"
                + (f", e.g. {shown}{more}" if shown else ""))


class CorpusCheck:
    """Counts the docids of search results and of served browses that the corpus does not have.

    Failed browses are left out: an agent asking for a docid that does not exist is already a ``browse_failed``
    warning, not a sign of a wrong corpus.
    """

    def __init__(self, docids: set[str], path: Path) -> None:
        self.docids = docids
        self.path = path
        self.results = _DocidTally()
        self.browses = _DocidTally()
        self.known: set[str] = set()  # referenced docids that are in the corpus (at most the corpus)
        self.missing: set[int] = set()

    def _see(self, tally: _DocidTally, docid: Any, where: str) -> None:
        docid = docid if isinstance(docid, str) else str(docid)
        tally.references += 1
        if docid in self.docids:
            self.known.add(docid)
            return
        key = _hash(docid)
        tally.missing += 1
        tally.missing_ids.add(key)
        self.missing.add(key)
        if len(tally.examples) < EXAMPLES:
            tally.examples.setdefault(docid, where)

    def add(self, record: dict[str, Any], where: str) -> None:
        for step in record["steps"]:
            if step["kind"] == "search":
                for hit in step["results"] or ():
                    if hit["docid"] is not None:
                        self._see(self.results, hit["docid"], where)
            elif step["kind"] == "browse" and step["docid"] is not None and step["found"]:
                self._see(self.browses, step["docid"], where)

    @property
    def referenced(self) -> int:
        return len(self.known) + len(self.missing)

    def summary(self) -> dict[str, Any]:
        return {
            "docids_referenced": self.referenced,
            "docids_missing": len(self.missing),
            "results": self.results.summary(),
            "browses": self.browses.summary(),
        }

    def _details(self) -> str:
        return f"search results: {self.results.text()}; browses: {self.browses.text()}"

    def warning(self) -> str | None:
        if not self.missing:
            return None
        return (f"warning: {len(self.missing)} of the {self.referenced} docids the run files reference are not in "
                f"the corpus {self.path} ({self._details()})")

    def error(self) -> str | None:
        """The message for a corpus the runs were evidently not made on, else None."""
        referenced = self.referenced
        if referenced < WRONG_CORPUS_MIN_DOCIDS or len(self.missing) <= WRONG_CORPUS_SHARE * referenced:
            return None
        share = round(100 * len(self.missing) / referenced)
        return (f"{len(self.missing)} of the {referenced} docids the run files reference ({share}%) are not in the "
                f"corpus {self.path} ({self._details()}). The runs were made on another corpus: check that "
                f"data.corpus in params.yaml (or --corpus) is the corpus the agent searched, and that its docids "
                f"are written as in the run files (same ids, no added prefix or padding).")


# Benchmark file roles: summary key, and how the user names the file (params.yaml key / option).
ROLES = {
    "queries": "data.queries / --queries",
    "qrels_evidence": "data.qrels_evidence / --qrels-evidence",
    "qrels_golds": "data.qrels_golds / --qrels-golds",
    "ground_truth": "data.ground_truth / --ground-truth",
}


@dataclass
class _BenchmarkFile:
    role: str
    path: Path
    ids: set[str]


class BenchmarkCheck:
    """The trajectories' query_ids against the query_ids of each benchmark file given."""

    def __init__(self) -> None:
        self.files: list[_BenchmarkFile] = []
        self.questions: set[str] = set()
        self.trajectories = 0
        self.without_id = 0

    def add_file(self, role: str, path: Path | None, ids: Iterable[str] | None) -> None:
        if path is not None and ids is not None:
            self.files.append(_BenchmarkFile(role, Path(path), set(ids)))

    def add(self, record: dict[str, Any]) -> None:
        self.trajectories += 1
        if record["query_id"] is None:
            self.without_id += 1
        else:
            self.questions.add(record["query_id"])

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"run_query_ids": len(self.questions), "trajectories_without_query_id": self.without_id}
        for f in self.files:
            missing = self.questions - f.ids
            out[f.role] = {
                "ids": len(f.ids),
                "run_query_ids_found": len(self.questions) - len(missing),
                "run_query_ids_missing": len(missing),
                "missing_examples": _sample(missing),
            }
        return out

    def warnings(self) -> list[str]:
        lines = []
        for f in self.files:
            missing = self.questions - f.ids
            if missing and len(missing) < len(self.questions):
                lines.append(f"warning: {len(missing)} of the {len(self.questions)} questions of the run files are "
                             f"not in {f.path} (e.g. {_listing(missing, len(missing))})")
        return lines

    def errors(self) -> list[str]:
        """One message per file that shares no question with the trajectories (there being any)."""
        if not self.questions:
            return []
        return [
            f"{f.path} shares no question with the run files (run files: "
            f"{_listing(self.questions, len(self.questions))}; {f.path.name}: {_listing(f.ids, len(f.ids))}): "
            f"qrels or queries for another benchmark? Check {ROLES[f.role]}."
            for f in self.files
            if self.questions.isdisjoint(f.ids)
        ]
