"""TREC run files: what `lrat evaluate --runs-out` writes and `lrat evaluate --run` reads.

One line per retrieved document, six whitespace-separated columns, as trec_eval, ranx and the BrowseComp-Plus
leaderboard use them::

    qid Q0 docid rank score tag

``rank`` is 1-based and the lines of a question come in rank order; ``score`` is the retriever's score and ``tag``
names the run (the model's name). Reading orders each question's documents by the rank column, ties by score
(higher first), then by line order, and ignores the second column and the tag. Light to import (no numpy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from lrat.io import atomic_open

COLUMNS = "qid Q0 docid rank score tag"


def write_run(path: Path, ranking: Mapping[str, Sequence[tuple[str, float]]], tag: str) -> None:
    """``ranking``: qid → ``(docid, score)`` pairs, best first (e.g. `lrat.retrieval.base.Hit` rows). Written
    atomically: a reader never sees half a run."""
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"TREC run tag {tag!r}: must be one word")
    with atomic_open(Path(path)) as fh:
        for qid, row in ranking.items():
            _check_word("question id", qid, path)
            for rank, (docid, score) in enumerate(row, start=1):
                _check_word("docid", docid, path)
                fh.write(f"{qid} Q0 {docid} {rank} {float(score)!r} {tag}\n")


def _check_word(what: str, value: str, path: Path) -> None:
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"{path}: {what} {value!r} cannot be written in a TREC run (empty or with whitespace)")


def read_run(path: Path) -> dict[str, list[str]]:
    """qid → docids, best first (by rank, ties by score, higher first, then by line). A malformed line, or a
    document listed twice for one question, is a ValueError naming ``path:line``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TREC run {path} not found")
    rows: dict[str, list[tuple[int, float, int, str]]] = {}
    seen: dict[tuple[str, str], int] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise ValueError(f"{path}:{number}: expected 6 columns '{COLUMNS}', found {len(parts)}")
            qid, _, docid, rank_text, score_text, _ = parts
            try:
                rank = int(rank_text)
            except ValueError:
                raise ValueError(f"{path}:{number}: rank {rank_text!r} is not an integer ('{COLUMNS}')") from None
            try:
                score = float(score_text)
            except ValueError:
                score = math.nan
            if not math.isfinite(score):
                raise ValueError(f"{path}:{number}: score {score_text!r} is not a finite number ('{COLUMNS}')")
            if (qid, docid) in seen:
                raise ValueError(f"{path}:{number}: {docid!r} is ranked twice for question {qid!r} (first on line "
                                 f"{seen[qid, docid]})")
            seen[qid, docid] = number
            rows.setdefault(qid, []).append((rank, -score, number, docid))
    if not rows:
        raise ValueError(f"{path}: empty TREC run (expected lines '{COLUMNS}')")
    return {qid: [docid for *_, docid in sorted(entries)] for qid, entries in rows.items()}
