"""The two row formats: ``lrat`` (traceable: provenance, judge verdict, group) and ``flagembedding`` (exactly the
keys of the released LRAT-Train data, for the authors' FlagEmbedding recipe)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from lrat.io import atomic_open
from lrat.mining.options import MineOptions
from lrat.mining.walk import Row

_BREAK = re.compile("[\u2028\u2029\x85]")  # characters other JSONL readers split lines at


def _escape_breaks(data: bytes) -> bytes:
    text = data.decode("utf-8")
    return _BREAK.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")


def lrat_row(row: Row, text: dict[str, str], judge: str, pairing: str) -> dict[str, Any]:
    return {
        "trajectory_id": row.trajectory_id, "query_id": row.query_id, "search_ordinal": row.search_ordinal,
        "query": row.query, "pos_id": row.pos_id, "pos": text[row.pos_id], "neg_ids": row.neg_ids,
        "negs": [text[d] for d in row.neg_ids], "reasoning_len": row.reasoning_len, "satisfied": row.satisfied,
        "judge": {"backend": judge, "verdict": None if row.judge_error else
                  ("RELEVANT" if row.satisfied else "NOT_RELEVANT"), "error": row.judge_error},
        "weight": row.weight, "group": row.group, "pairing": pairing,
    }


def flagembedding_row(row: Row, text: dict[str, str]) -> dict[str, Any]:
    return {
        "query": row.query, "pos": [text[row.pos_id]], "neg": [text[d] for d in row.neg_ids], "pos_id": [row.pos_id],
        "neg_id": list(row.neg_ids), "reasoning_len": row.reasoning_len, "satisfied": row.satisfied,
        "reweight_rate": row.weight,
    }


def write_rows(out: Path, rows: list[Row], text: dict[str, str], opts: MineOptions) -> None:
    """Labels files are large (every row carries its texts), so rows are dumped with orjson, and only rows that can
    hold a line-break character (known per document up front) are escaped."""
    dirty = {d for d, t in text.items() if _BREAK.search(t)}
    with atomic_open(out, "wb") as fh:
        for row in rows:
            if opts.format == "flagembedding":
                value = flagembedding_row(row, text)
            else:
                value = lrat_row(row, text, opts.judge, opts.pairing)
            data = orjson.dumps(value)
            if dirty and (row.pos_id in dirty or not dirty.isdisjoint(row.neg_ids)) or _BREAK.search(
                    f"{row.query}{row.trajectory_id}{row.query_id}{row.judge_error}{row.group}"):
                data = _escape_breaks(data)
            fh.write(data + b"\n")
