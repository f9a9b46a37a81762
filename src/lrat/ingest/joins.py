"""Benchmark files joined onto trajectories by query_id: queries.tsv, TREC qrels, ground_truth.jsonl (BC+ shapes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Reject = Callable[[str, int | None, str], None]


@dataclass
class Joins:
    queries: dict[str, str] | None = None
    evidence: dict[str, list[str]] | None = None
    golds: dict[str, list[str]] | None = None
    answers: dict[str, str] | None = None
    query_file_ids: frozenset[str] | None = None  # the ids of queries.tsv alone (`queries` also has ground truth's)

    def apply(self, record: dict[str, Any]) -> None:
        qid = record["query_id"]
        if self.answers is not None and qid in self.answers:
            record["gold_answer"] = self.answers[qid]
        if record["question"] is None and self.queries is not None and qid in self.queries:
            record["question"] = self.queries[qid]
        if self.evidence is not None and qid is not None:
            record["gold_evidence_ids"] = list(self.evidence.get(qid, []))
        if self.golds is not None and qid is not None:
            record["gold_answer_ids"] = list(self.golds.get(qid, []))


def _lines(path: Path, reject: Reject):
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                reject(str(path), lineno, f"not valid UTF-8: {exc.reason} at byte {exc.start}")
                continue
            if line.strip():
                yield lineno, line


def load_queries(path: Path, reject: Reject) -> dict[str, str]:
    """``query_id<TAB>query``, no header (BC+ ``topics-qrels/queries.tsv``)."""
    out: dict[str, str] = {}
    for lineno, line in _lines(path, reject):
        qid, sep, text = line.partition("\t")
        if not sep or not qid.strip():
            reject(str(path), lineno, "expected 'query_id<TAB>query'")
            continue
        out[qid.strip()] = text.strip()
    return out


def load_qrels(path: Path, reject: Reject) -> dict[str, list[str]]:
    """TREC ``qid Q0 docid rel``; relevance ≤ 0 lines are not evidence."""
    out: dict[str, list[str]] = {}
    for lineno, line in _lines(path, reject):
        cols = line.split()
        if len(cols) != 4:
            reject(str(path), lineno, f"a TREC qrels line has 4 columns 'qid Q0 docid rel', found {len(cols)}")
            continue
        qid, _, docid, rel = cols
        try:
            relevant = float(rel) > 0
        except ValueError:
            reject(str(path), lineno, f"relevance {rel!r} is not a number")
            continue
        if relevant and docid not in out.setdefault(qid, []):
            out[qid].append(docid)
    return out


def load_ground_truth(path: Path, reject: Reject) -> tuple[dict[str, str], dict[str, str]]:
    """``{query_id, query?, answer}`` per line; returns (answers, questions)."""
    answers: dict[str, str] = {}
    questions: dict[str, str] = {}
    for lineno, line in _lines(path, reject):
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as exc:
            reject(str(path), lineno, f"not valid JSON: {exc}")
            continue
        if not isinstance(row, dict) or row.get("query_id") is None or not isinstance(row.get("answer"), str):
            reject(str(path), lineno, "a ground-truth line is an object with 'query_id' and a string 'answer'")
            continue
        qid = str(row["query_id"]).strip()
        answers[qid] = row["answer"]
        if isinstance(row.get("query"), str):
            questions[qid] = row["query"]
    return answers, questions


def load_joins(
    reject: Reject,
    queries: Path | None = None,
    qrels_evidence: Path | None = None,
    qrels_golds: Path | None = None,
    ground_truth: Path | None = None,
) -> Joins:
    joins = Joins()
    if ground_truth is not None:
        joins.answers, questions = load_ground_truth(ground_truth, reject)
        joins.queries = questions
    if queries is not None:
        listed = load_queries(queries, reject)
        joins.query_file_ids = frozenset(listed)
        joins.queries = {**(joins.queries or {}), **listed}
    if qrels_evidence is not None:
        joins.evidence = load_qrels(qrels_evidence, reject)
    if qrels_golds is not None:
        joins.golds = load_qrels(qrels_golds, reject)
    return joins
