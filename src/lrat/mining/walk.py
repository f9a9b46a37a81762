"""One trajectory → training rows: browsed documents are positives, unbrowsed results negatives (method §3).

The walk follows the authors' builder step for step (so `--preset official` reproduces its rows exactly):
searches fill an *episode* history; a run of browses (each optionally followed by its reasoning step) is judged
together; a run with a relevant browse ends the episode. The project's options change only what the method doc
calls weak: which query a positive pairs with (`attributed`), which results are its negatives (`same_search`),
repeats, and what a judge error means.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any

Verdict = Callable[[dict[str, Any]], bool | None]  # a browse step → relevant / not relevant / None (drop it)


@dataclass(frozen=True)
class WalkOptions:
    pairing: str = "latest"  # latest | attributed
    negatives: str = "episode"  # episode | same_search
    skip_repeats: bool = False  # official: a re-browse gives another row
    empty_reasoning_is_zero: bool = True  # official: no reasoning step → "" → length 0; lrat: None (unknown)


@dataclass
class Row:
    trajectory_id: str
    query_id: str | None
    search_ordinal: int | None
    query: str
    pos_id: str
    neg_ids: list[str]
    reasoning: str | None
    satisfied: bool
    verdict_step: int  # idx of the browse step, to join its judge verdict
    group: str = "default"
    reasoning_len: int | None = None
    weight: float = 1.0
    judge_error: str | None = None  # the verdict came from the error policy, not from the judge
    evidence: bool | None = None  # pos_id is gold evidence of the question (None: no qrels joined)


@dataclass
class WalkCounts:
    browses: int = 0
    no_docid: int = 0
    not_in_results: int = 0
    not_in_corpus: int = 0
    repeats: int = 0
    dropped_by_judge: int = 0


def _unique(seq: list[str], exclude: Container[str], keep: Container[str]) -> list[str]:
    """First occurrences, in order, of the docids not excluded and present in ``keep`` (the corpus)."""
    seen = set(exclude)
    out = []
    for d in seq:
        if d not in seen:
            seen.add(d)
            if d in keep:
                out.append(d)
    return out


def walk(traj: dict[str, Any], verdict: Verdict, in_corpus: Container[str], opts: WalkOptions,
         counts: WalkCounts | None = None) -> list[Row]:
    counts = counts if counts is not None else WalkCounts()
    steps = traj.get("steps") or []
    queries: dict[int, str] = {}
    shown: dict[int, list[str]] = {}
    browsed_anywhere = {s["docid"] for s in steps if s["kind"] == "browse" and s.get("docid") is not None}
    history: list[list[str]] = []
    searched: set[str] = set()  # every docid of the episode's results
    unsat_history: list[str] = []
    dropped: set[str] = set()  # browsed, but the judge failed and the policy dropped it: neutral, never a negative
    query: str | None = None
    ordinal: int | None = None
    rows: list[Row] = []
    i, n = 0, len(steps)
    while i < n:
        step = steps[i]
        if step["kind"] == "search":
            query, ordinal = step.get("query") or "", step.get("ordinal")
            docids = [r["docid"] for r in step.get("results") or () if r["docid"] is not None]
            queries[ordinal], shown[ordinal] = query, docids
            history.append(docids)
            searched.update(docids)
            i += 1
            continue
        if step["kind"] != "browse":
            i += 1
            continue
        run: list[tuple[dict[str, Any], bool]] = []
        j = i
        while j < n and steps[j]["kind"] == "browse":
            b = steps[j]
            if b.get("docid") is None:
                counts.no_docid += 1
                j += 1
                continue
            counts.browses += 1
            sat = verdict(b)
            if sat is None:
                counts.dropped_by_judge += 1
                dropped.add(b["docid"])
            else:
                run.append((b, sat))
            j += 2 if j + 1 < n and steps[j + 1]["kind"] == "reasoning" else 1
        sat_docs = [b["docid"] for b, s in run if s]
        unsat_docs = [b["docid"] for b, s in run if not s]
        browsed = set(unsat_history) | set(unsat_docs) | set(sat_docs) | dropped
        unbrowsed = [d for docs in reversed(history) for d in docs if d not in browsed]
        unsat_newest = list(reversed(unsat_docs))
        earlier_unsat = list(reversed(unsat_history))
        sat_set = set(sat_docs)
        for b, sat in run:
            docid = b["docid"]
            if opts.skip_repeats and b.get("repeat"):
                counts.repeats += 1
                continue
            if opts.pairing == "attributed":
                source = b.get("attributed_search") if b.get("found", True) else None
                if source is None:
                    counts.not_in_results += 1
                    continue
                row_query, row_ordinal = queries.get(source, ""), source
            else:
                if docid not in searched:
                    counts.not_in_results += 1
                    continue
                row_query, row_ordinal = query or "", ordinal
            if docid not in in_corpus:
                counts.not_in_corpus += 1
                continue
            if opts.negatives == "same_search":
                negs = _unique(shown.get(row_ordinal, []), browsed_anywhere, in_corpus)
            else:
                own = [d for d in unsat_newest if d != docid] if not sat else unsat_newest
                negs = _unique(own + earlier_unsat + unbrowsed, sat_set | {docid}, in_corpus)
            reasoning = b.get("reasoning_after")
            if reasoning is None and opts.empty_reasoning_is_zero:
                reasoning = ""
            rows.append(Row(
                trajectory_id=traj["trajectory_id"], query_id=traj.get("query_id"), search_ordinal=row_ordinal,
                query=row_query, pos_id=docid, neg_ids=negs, reasoning=reasoning,
                satisfied=sat, verdict_step=b["idx"],
            ))
        unsat_history.extend(unsat_docs)
        if sat_docs:
            history, searched, unsat_history, dropped, query, ordinal = [], set(), [], set(), None, None
        i = j
    return rows
