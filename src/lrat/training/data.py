"""Labels (`lrat mine` rows) → the rectangular dataset sentence-transformers trains on.

Columns are ``anchor, positive, negative_1..n`` and the weight goes in ``label`` (the one column the collator hands
to the loss, conventions §4.2). IDs, the judge verdict and the group stay out of the dataset; they live in the
labels file, which is the versioned artifact. Compact labels (docids and ``corpus_sha256``, no texts;
``lrat.mining.compact``) are joined here with the corpus they were mined from, reading only the texts the kept
rows use; the rows are exactly those of the same labels written with texts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrat.io import read_jsonl

if TYPE_CHECKING:
    from lrat.settings import Train


_TEXT_KEYS = frozenset({"query", "pos", "negs", "satisfied"})
_COMPACT_KEYS = frozenset({"query", "pos_id", "neg_ids", "satisfied"})
_JOIN_KEYS = ("trajectory_id", "search_ordinal", "query", "pos_id", "neg_ids", "weight", "corpus_sha256")


def _sample_key(row: dict[str, Any], seed: int) -> str:
    """A row's place in the sample, from the browse event it records (not its position in the file): label sets
    mined from the same trajectories (the ablation's naive, filter and lrat) then sample the same events where they
    share them, so their comparison is paired rather than three unrelated draws."""
    event = [row.get("trajectory_id"), row.get("search_ordinal"), row.get("pos_id")]
    if any(part is None for part in event):
        event = [row["query"], row["pos"]]
    return hashlib.sha256(f"{seed}\t{json.dumps(event)}".encode()).hexdigest()


def training_rows(labels: Path, cfg: Train, corpus: Path | None = None
                  ) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The rows to train on, and counts of what was left out and why (logged with the run). ``corpus``: the
    corpus compact labels were mined from (unused for text labels); a missing or different one is an error."""
    from lrat.mining.compact import CorpusJoin, is_compact

    if cfg.rows not in ("satisfied", "all"):
        raise ValueError(f"train.rows must be 'satisfied' or 'all', not {cfg.rows!r}")
    if cfg.n_negatives < 0:
        raise ValueError("train.n_negatives must be >= 0")
    out: list[dict[str, Any]] = []
    keys: list[str] = []
    pending: list[tuple[int, dict[str, Any]]] = []  # compact rows: (index in out, row), joined below
    join = CorpusJoin(labels)
    counts = {"labels": 0, "not_satisfied": 0, "too_few_negatives": 0}
    for lineno, row in read_jsonl(labels):
        compact = is_compact(row)
        if not isinstance(row, dict) or not (_COMPACT_KEYS if compact else _TEXT_KEYS) <= set(row):
            raise ValueError(f"{labels}:{lineno}: not an `lrat mine` row (--format lrat or compact)")
        counts["labels"] += 1
        if cfg.rows == "satisfied" and not row["satisfied"]:
            counts["not_satisfied"] += 1
            continue
        if len(row["neg_ids" if compact else "negs"]) < cfg.n_negatives:
            counts["too_few_negatives"] += 1
            continue
        if compact:  # no texts yet: a placeholder, filled once the corpus is checked and read
            row = {k: row[k] for k in _JOIN_KEYS if k in row}
            row["neg_ids"] = row["neg_ids"][: cfg.n_negatives]
            join.add(lineno, row, [row["pos_id"], *row["neg_ids"]])
            pending.append((len(out), row))
            out.append({})
            keys.append("")
            continue
        out.append(_record(row, cfg))
        keys.append(_sample_key(row, cfg.seed))
    if pending:
        text = join.texts(corpus)
        for i, row in pending:
            row["pos"], row["negs"] = text[row["pos_id"]], [text[d] for d in row["neg_ids"]]
            out[i], keys[i] = _record(row, cfg), _sample_key(row, cfg.seed)
        del pending, text
    if cfg.max_rows is not None and len(out) > cfg.max_rows:
        keep = sorted(sorted(range(len(out)), key=keys.__getitem__)[: cfg.max_rows])
        counts["sampled_out"] = len(out) - cfg.max_rows
        out = [out[i] for i in keep]
    counts["rows"] = len(out)
    if not out:
        raise ValueError(f"{labels}: no rows to train on ({counts})")
    return out, counts


def _record(row: dict[str, Any], cfg: Train) -> dict[str, Any]:
    record = {"anchor": row["query"], "positive": row["pos"]}
    for i, text in enumerate(row["negs"][: cfg.n_negatives], start=1):  # hardest first, as mined
        record[f"negative_{i}"] = text
    record["label"] = float(row.get("weight", 1.0)) if cfg.weights else 1.0
    return record


def to_dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    columns = list(rows[0])
    return Dataset.from_dict({c: [r[c] for r in rows] for c in columns}).select_columns(columns)
