"""Compact labels: ``lrat`` rows without the document texts, which readers join back from the corpus.

A compact row is an ``lrat`` row less ``pos`` and ``negs`` (the texts of ``pos_id`` and ``neg_ids``; the query
stays, it is not in the corpus), plus ``corpus_sha256``: the SHA-256 of the corpus file's bytes, the value
``sha256sum corpus.jsonl`` prints and ``lrat index`` records as ``corpus.sha256``. Any change to that file (a
text, a docid, even its formatting) changes the hash, so texts joined from a corpus with the row's hash are
exactly the texts mining read, and a reader refuses any other corpus rather than train on different texts.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import orjson

from lrat.io import file_sha256

HASH_KEY = "corpus_sha256"
TEXT_KEYS = ("pos", "negs")


def corpus_sha256(corpus: Path) -> str:
    return file_sha256(corpus)


def is_compact(row: Any) -> bool:
    return isinstance(row, dict) and HASH_KEY in row


def _record(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:  # e.g. a lone surrogate escape, which json accepts: parse as read_corpus does
        return json.loads(line)


def corpus_texts(corpus: Path, wanted: Collection[str] | None = None) -> dict[str, str]:
    """docid → text of ``corpus`` (only the ``wanted`` docids when given), read exactly as mining reads it
    (``lrat.retrieval.local.read_corpus``: docid stripped, a later duplicate wins); a bad line names file:line."""
    texts: dict[str, str] = {}
    with corpus.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = _record(line)
                docid, text = str(record["docid"]).strip(), record["text"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{corpus}:{number}: not a corpus record {{docid, text}} ({exc})") from None
            if not isinstance(text, str):
                raise ValueError(f"{corpus}:{number}: 'text' is not a string")
            if wanted is None or docid in wanted:
                texts[docid] = text
    return texts


class CorpusJoin:
    """Checks that compact rows of one labels file name one corpus hash, then loads the texts they need.

    ``add(lineno, row, docids)`` per compact row as it is read; ``texts(corpus)`` once at the end: it refuses a
    missing corpus, a corpus with another hash, and a docid the corpus does not hold, naming labels file:line.
    """

    def __init__(self, labels: Path) -> None:
        self.labels = labels
        self.expected: str | None = None
        self.first_line = 0
        self.rows = 0
        self.where: dict[str, int] = {}  # docid → the first labels line that needs it

    def add(self, lineno: int, row: dict[str, Any], docids: Iterable[str]) -> None:
        sha = row[HASH_KEY]
        if not isinstance(sha, str) or len(sha) != 64:
            raise ValueError(f"{self.labels}:{lineno}: {HASH_KEY} must be a sha256 hex digest, got {sha!r}")
        if self.expected is None:
            self.expected, self.first_line = sha, lineno
        elif sha != self.expected:
            raise ValueError(f"{self.labels}:{lineno}: {HASH_KEY} {sha} differs from line {self.first_line}'s "
                             f"{self.expected}: one labels file must come from one corpus")
        self.rows += 1
        for docid in docids:
            self.where.setdefault(docid, lineno)

    def texts(self, corpus: Path | None) -> dict[str, str]:
        if self.expected is None:
            return {}
        if corpus is None:
            raise ValueError(
                f"{self.labels} holds compact labels ({self.rows} rows with docids only, mined from a corpus with "
                f"sha256 {self.expected}); their texts come from that corpus: pass it (--corpus, default "
                f"params data.corpus), or mine text rows (mine.compact_above_mb: null)")
        corpus = Path(corpus)
        if not corpus.is_file():
            raise FileNotFoundError(f"{corpus}: corpus not found (needed to join the texts of the compact labels "
                                    f"{self.labels})")
        actual = corpus_sha256(corpus)
        if actual != self.expected:
            raise ValueError(
                f"{self.labels}: compact labels were mined from a corpus with sha256 {self.expected}, but {corpus} "
                f"has sha256 {actual}: the corpus changed since mining, so its texts may not be the ones mined. "
                f"Re-mine the labels against this corpus (`lrat mine`, `dvc repro mine`), or pass the corpus they "
                f"were mined from")
        texts = corpus_texts(corpus, self.where)
        missing = [d for d in self.where if d not in texts]
        if missing:
            first = min(missing, key=self.where.__getitem__)
            raise ValueError(f"{self.labels}:{self.where[first]}: docid {first!r} is not in {corpus} (sha256 "
                             f"matches, so the labels were edited after mining){_more(len(missing))}")
        return texts


def _more(n: int) -> str:
    return f"; {n - 1} more docids missing" if n > 1 else ""
