"""Trajectory statistics of the LRAT paper (``lrat-method.md`` §8), computed from normalized records.

Pure functions over the §8 schema so a simulator's output and real agent logs are measured the same way. Records
are consumed once (a generator over a large JSONL is fine); only per-run tallies and the reasoning lengths are kept.
"""

from __future__ import annotations

import copy
import math
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

RANKS = list(range(1, 11))
TRANSITIONS = ("S->S", "S->B", "B->S", "B->B")
GROUPS = ("all", "correct", "incorrect")
LENGTH_GROUPS = ("all", "evidence", "non_evidence", "correct", "incorrect")
HIST_BINS = 20


def _linear(start: float, end: float) -> list[float]:
    return [round(start + (end - start) * i / 9, 4) for i in range(10)]


# Reference values of the paper (Tongyi-30B on BrowseComp-Plus), lrat-method.md §8. Per-rank curves are the paper's
# endpoints joined linearly (the paper gives only the endpoints in text).
PAPER: dict[str, Any] = {
    "runs": {
        "correct": {"avg_searches": 11.77, "avg_browses": 3.61, "browses_per_search": 0.31, "avg_steps": 15.38},
        "incorrect": {"avg_searches": 34.68, "avg_browses": 6.95, "browses_per_search": 0.20, "avg_steps": 41.63},
    },
    "transitions": {"correct": {"S->S": 0.77, "S->B": 0.23, "B->S": 0.60, "B->B": 0.40}},
    "browse_by_rank": {
        "ranks": RANKS,
        "agent_share": _linear(0.12, 0.09),
        "human_click_share": _linear(0.20, 0.04),
        "uniform_share": 0.10,
        "position_bias_ratio": round(0.12 / 0.09, 4),
    },
    "reasoning_length": {
        "mean": {"evidence": 111.0, "non_evidence": 77.0, "correct": 149.0, "incorrect": 84.0},
        "evidence_ratio": round(111 / 77, 4),
    },
}

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lowercase, punctuation to spaces, drop articles a/an/the, collapse whitespace (SQuAD-style, Unicode-aware)."""
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text.lower())
    return " ".join(_ARTICLES.sub(" ", text).split())


def is_correct(final_answer: dict[str, Any] | None, gold_answer: str | None) -> bool | None:
    """True/False when the gold answer is known (a missing answer is wrong), None when it is not."""
    if gold_answer is None:
        return None
    if not final_answer or final_answer.get("exact") is None:
        return False
    pred, gold = normalize_answer(str(final_answer["exact"])), normalize_answer(str(gold_answer))
    if not pred or not gold:
        return False
    return pred == gold or f" {gold} " in f" {pred} " or f" {pred} " in f" {gold} "


def _percentile(sorted_values: list[int], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), so p90 of [1..10] is 9.1."""
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def hist_edges(values: Iterable[int]) -> list[int]:
    """Integer-width bins shared by every length group, so evidence and non-evidence histograms line up."""
    top = max(values, default=0)
    width = max(1, math.ceil(top / HIST_BINS))
    return [i * width for i in range(top // width + 2)]


def summarize_lengths(values: list[int], edges: list[int]) -> dict[str, Any] | None:
    """n/mean/median/p90/max and a histogram over ``edges`` (bins [e_i, e_i+1)); None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    width = edges[1] - edges[0]
    counts = [0] * (len(edges) - 1)
    for v in ordered:
        counts[min(v // width, len(counts) - 1)] += 1
    return {
        "n": len(ordered),
        "mean": sum(ordered) / len(ordered),
        "median": _percentile(ordered, 0.5),
        "p90": _percentile(ordered, 0.9),
        "max": ordered[-1],
        "histogram": {"edges": edges, "counts": counts},
    }


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or not den else num / den


class _Tally:
    """Running totals of one run group (all, correct or incorrect)."""

    def __init__(self) -> None:
        self.n = self.searches = self.browses = 0
        self.moves = dict.fromkeys(TRANSITIONS, 0)

    def add(self, kinds: list[str]) -> None:
        self.n += 1
        self.searches += kinds.count("S")
        self.browses += kinds.count("B")
        for a, b in zip(kinds, kinds[1:], strict=False):
            self.moves[f"{a}->{b}"] += 1

    def runs(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "avg_searches": _ratio(self.searches, self.n),
            "avg_browses": _ratio(self.browses, self.n),
            "browses_per_search": _ratio(self.browses, self.searches),
            "avg_steps": _ratio(self.searches + self.browses, self.n),
        }

    def transitions(self) -> dict[str, Any]:
        m = self.moves
        from_s, from_b = m["S->S"] + m["S->B"], m["B->S"] + m["B->B"]
        return {"counts": dict(m), "S->S": _ratio(m["S->S"], from_s), "S->B": _ratio(m["S->B"], from_s),
                "B->S": _ratio(m["B->S"], from_b), "B->B": _ratio(m["B->B"], from_b)}


def compute_stats(
    records: Iterable[dict[str, Any]],
    evidence: dict[str, set[str]] | None,
    count_tokens: Callable[[str], int],
    *,
    tokenizer_name: str = "regex",
) -> dict[str, Any]:
    """The paper's behaviour statistics over normalized trajectories, one pass, as a JSON-ready dict.

    ``evidence`` maps query_id → evidence docids (from qrels); when None each record's own ``gold_evidence_ids`` is
    used. Runs whose evidence is unknown (query not in the qrels, or no ``gold_evidence_ids``) stay out of the
    evidence/non-evidence split but count everywhere else.
    """
    tallies = {g: _Tally() for g in GROUPS}
    browses, shown = [0] * 10, [0] * 10
    lengths: dict[str, list[int]] = {g: [] for g in LENGTH_GROUPS}
    any_evidence = False
    n = 0
    for record in records:
        n += 1
        correct = is_correct(record.get("final_answer"), record.get("gold_answer"))
        group = None if correct is None else ("correct" if correct else "incorrect")
        qid = record.get("query_id")
        if evidence is not None:
            ev = evidence.get(str(qid)) if qid is not None else None
        else:
            gold = record.get("gold_evidence_ids")
            ev = None if gold is None else {str(d) for d in gold}
        any_evidence |= ev is not None
        kinds: list[str] = []
        ranks_by_search: dict[int, dict[str, int]] = {}
        for step in record.get("steps") or []:
            kind = step.get("kind")
            if kind == "search":
                kinds.append("S")
                shown_ranks: dict[str, int] = {}
                for result in step.get("results") or []:
                    rank = result.get("rank")
                    if isinstance(rank, int) and 1 <= rank <= 10:
                        shown[rank - 1] += 1
                    if result.get("docid") is not None:
                        shown_ranks.setdefault(str(result["docid"]), rank)
                ranks_by_search[step.get("ordinal")] = shown_ranks
            elif kind == "browse":
                kinds.append("B")
                if step.get("repeat") or not step.get("found"):
                    continue
                attributed = step.get("attributed_search")
                if attributed is not None:
                    rank = ranks_by_search.get(attributed, {}).get(str(step.get("docid")))
                    if isinstance(rank, int) and 1 <= rank <= 10:
                        browses[rank - 1] += 1
                text = step.get("reasoning_after")
                if text is not None:
                    length = count_tokens(text)
                    lengths["all"].append(length)
                    if group:
                        lengths[group].append(length)
                    if ev is not None:
                        lengths["evidence" if str(step.get("docid")) in ev else "non_evidence"].append(length)
        tallies["all"].add(kinds)
        if group:
            tallies[group].add(kinds)

    total = sum(browses)
    share = [b / total if total else None for b in browses]
    edges = hist_edges(lengths["all"])
    reasoning: dict[str, Any] = {g: summarize_lengths(v, edges) for g, v in lengths.items()}
    mean = {g: (s or {}).get("mean") for g, s in reasoning.items()}
    reasoning["evidence_ratio"] = _ratio(mean["evidence"], mean["non_evidence"])
    return {
        "n_trajectories": n,
        "tokenizer": tokenizer_name,
        "evidence_source": None if not any_evidence else ("qrels" if evidence is not None else "records"),
        "runs": {g: t.runs() for g, t in tallies.items()},
        "transitions": {g: t.transitions() for g, t in tallies.items()},
        "browse_by_rank": {
            "ranks": RANKS,
            "browses": browses,
            "shown": shown,
            "share": share,
            "probability": [b / s if s else None for b, s in zip(browses, shown, strict=True)],
            "position_bias_ratio": _ratio(share[0], share[9]) if share[0] else None,
        },
        "reasoning_length": reasoning,
        "paper": copy.deepcopy(PAPER),
    }
