"""The row formats: ``lrat`` (traceable: provenance, judge verdict, group, texts), ``compact`` (an ``lrat`` row
with docids only and the corpus hash, ``lrat.mining.compact``) and ``flagembedding`` (exactly the keys of the
released LRAT-Train data, for the authors' FlagEmbedding recipe).

``lrat`` switches to ``compact`` when its text rows would pass ``mine.compact_above_mb``: their exact size is
known before anything is written (each document's encoded text is measured once), so no text file is written
and thrown away and no second copy of the rows is held.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from lrat.io import atomic_open
from lrat.mining.compact import HASH_KEY, CorpusJoin, is_compact
from lrat.mining.options import MineOptions
from lrat.mining.walk import Row

_BREAK = re.compile("[\u2028\u2029\x85]")  # characters other JSONL readers split lines at
MB = 1_000_000


def _escape_breaks(data: bytes) -> bytes:
    text = data.decode("utf-8")
    return _BREAK.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")


def _line(value: Any, escape: bool) -> bytes:
    data = orjson.dumps(value)
    return (_escape_breaks(data) if escape and _BREAK.search(data.decode("utf-8")) else data) + b"\n"


def lrat_row(row: Row, text: Mapping[str, str], judge: str, pairing: str) -> dict[str, Any]:
    return {
        "trajectory_id": row.trajectory_id, "query_id": row.query_id, "search_ordinal": row.search_ordinal,
        "query": row.query, "pos_id": row.pos_id, "pos": text[row.pos_id], "neg_ids": row.neg_ids,
        "negs": [text[d] for d in row.neg_ids], "reasoning_len": row.reasoning_len, "satisfied": row.satisfied,
        "judge": {"backend": judge, "verdict": None if row.judge_error else
                  ("RELEVANT" if row.satisfied else "NOT_RELEVANT"), "error": row.judge_error},
        "weight": row.weight, "group": row.group, "pairing": pairing,
    }


def compact_row(row: Row, judge: str, pairing: str, sha256: str) -> dict[str, Any]:
    value = lrat_row(row, _NO_TEXT, judge, pairing)
    del value["pos"], value["negs"]
    value[HASH_KEY] = sha256
    return value


def flagembedding_row(row: Row, text: Mapping[str, str]) -> dict[str, Any]:
    return {
        "query": row.query, "pos": [text[row.pos_id]], "neg": [text[d] for d in row.neg_ids], "pos_id": [row.pos_id],
        "neg_id": list(row.neg_ids), "reasoning_len": row.reasoning_len, "satisfied": row.satisfied,
        "reweight_rate": row.weight,
    }


class _Empty(dict):
    def __missing__(self, key: str) -> str:
        return ""


_NO_TEXT = _Empty()


def _own_fields_break(row: Row) -> bool:
    """Whether the row's own strings (not the documents' texts) hold a line-break character."""
    return bool(_BREAK.search(f"{row.query}{row.trajectory_id}{row.query_id}{row.judge_error}{row.group}"
                              f"{row.pos_id}{''.join(row.neg_ids)}"))


def text_rows_bytes(rows: list[Row], text: Mapping[str, str], opts: MineOptions) -> int:
    """The exact size of the ``lrat`` text rows ``write_rows`` would write: each row without its texts, plus each
    document's encoded (escaped) text, measured once per document."""
    sizes: dict[str, int] = {}

    def size(docid: str) -> int:
        n = sizes.get(docid)
        if n is None:
            data = orjson.dumps(text[docid])
            n = sizes[docid] = len(_escape_breaks(data) if _BREAK.search(text[docid]) else data) - 2  # no quotes
        return n

    total = 0
    for row in rows:
        total += len(_line(lrat_row(row, _NO_TEXT, opts.judge, opts.pairing), _own_fields_break(row)))
        total += size(row.pos_id) + sum(size(d) for d in row.neg_ids)
    return total


def write_rows(out: Path, rows: list[Row], text: dict[str, str], opts: MineOptions, corpus_sha256: str | None = None
               ) -> dict[str, Any]:
    """Write the labels; returns ``{label_format, label_bytes, text_label_bytes}`` (text_label_bytes: what the
    ``lrat`` text rows take or would have taken; null for flagembedding). Rows are dumped with orjson, and only
    rows that can hold a line-break character (known per document up front) are escaped."""
    fmt, text_bytes = opts.format, None
    if fmt in ("lrat", "compact"):
        text_bytes = text_rows_bytes(rows, text, opts)
        if fmt == "lrat" and opts.compact_above_mb is not None and text_bytes > opts.compact_above_mb * MB:
            fmt = "compact"
    if fmt == "compact" and not corpus_sha256:
        raise ValueError("compact labels need the corpus sha256")
    dirty = {d for d, t in text.items() if _BREAK.search(t)} if fmt != "compact" else set()
    with atomic_open(out, "wb") as fh:
        for row in rows:
            if fmt == "flagembedding":
                value = flagembedding_row(row, text)
            elif fmt == "compact":
                value = compact_row(row, opts.judge, opts.pairing, corpus_sha256 or "")
            else:
                value = lrat_row(row, text, opts.judge, opts.pairing)
            escape = (dirty and (row.pos_id in dirty or not dirty.isdisjoint(row.neg_ids))) or _own_fields_break(row)
            fh.write(_line(value, bool(escape)))
    return {"label_format": fmt, "label_bytes": out.stat().st_size, "text_label_bytes": text_bytes}


def _expanded(row: dict[str, Any], text: Mapping[str, str], fmt: str) -> dict[str, Any]:
    """A compact row as the ``lrat`` (same key order as mined) or ``flagembedding`` row mining would have written."""
    if fmt == "flagembedding":
        return {"query": row["query"], "pos": [text[row["pos_id"]]], "neg": [text[d] for d in row["neg_ids"]],
                "pos_id": [row["pos_id"]], "neg_id": list(row["neg_ids"]), "reasoning_len": row["reasoning_len"],
                "satisfied": row["satisfied"], "reweight_rate": row["weight"]}
    value: dict[str, Any] = {}
    for key, item in row.items():
        if key == HASH_KEY:
            continue
        value[key] = item
        if key == "pos_id":
            value["pos"] = text[item]
        elif key == "neg_ids":
            value["negs"] = [text[d] for d in item]
    return value


def _compact_rows(labels: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with labels.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{labels}:{lineno}: not a JSON line ({exc})") from None
            if not is_compact(row) or not {"query", "pos_id", "neg_ids"} <= set(row):
                raise ValueError(f"{labels}:{lineno}: not a compact labels row (no {HASH_KEY}, pos_id, neg_ids)")
            yield lineno, row


def expand_labels(labels: Path, corpus: Path, out: Path, fmt: str = "lrat") -> dict[str, Any]:
    """Compact labels → text rows (``lrat`` or ``flagembedding``), byte for byte what ``lrat mine --format``
    writes from the same trajectories; the corpus must be the one they were mined from (same sha256)."""
    if fmt not in ("lrat", "flagembedding"):
        raise ValueError(f"cannot expand to {fmt!r}; choose lrat or flagembedding")
    join = CorpusJoin(labels)
    n = 0
    for lineno, row in _compact_rows(labels):
        join.add(lineno, row, [row["pos_id"], *row["neg_ids"]])
        n += 1
    text = join.texts(corpus)
    with atomic_open(out, "wb") as fh:
        for _, row in _compact_rows(labels):
            fh.write(_line(_expanded(row, text, fmt), True))
    return {"rows": n, "label_format": fmt, "label_bytes": out.stat().st_size, "corpus_sha256": join.expected}
