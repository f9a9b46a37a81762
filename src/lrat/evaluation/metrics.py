"""Per-question IR metrics of ranked runs exactly as ranx defines them (recall@k, nDCG@k with Järvelin's linear
gains, MRR@k, relevance level 1), and ranx's `student` test (scipy's two-sided paired t-test).

Why not ranx at run time: its Qrels and Run are numba typed dicts that compile on first use in every process,
12 s here and about a minute in a fresh environment whose kernel cache is still empty, while scoring a few hundred
questions takes milliseconds; evaluate, ablation and promote each paid it. tests/evaluation/test_metrics.py checks
every number against ranx's own.
"""

from __future__ import annotations

import math
import re

import numpy as np

KINDS = ("recall", "ndcg", "mrr")
_METRIC = re.compile(rf"({'|'.join(KINDS)})@([1-9][0-9]*)")


def parse_metric(name: str) -> tuple[str, int]:
    """``"ndcg@10"`` → ``("ndcg", 10)``; anything else is a ValueError naming what is supported."""
    found = _METRIC.fullmatch(name)
    if not found:
        raise ValueError(f"unsupported metric {name!r}: expected one of {', '.join(k + '@K' for k in KINDS)}")
    return found.group(1), int(found.group(2))


def _dcg(gains: list[float]) -> float:
    return sum(g / math.log2(rank + 1) for rank, g in enumerate(gains, start=1))


def query_score(kind: str, k: int, relevant: dict[str, int], ranking: list[str]) -> float:
    """One question's score; ``relevant``: docid → level (levels below 1 do not count), ``ranking``: best first."""
    relevant = {d: level for d, level in relevant.items() if level >= 1}
    if not relevant:
        return 0.0
    top = ranking[:k]
    if kind == "recall":
        return sum(1 for d in top if d in relevant) / len(relevant)
    if kind == "mrr":
        return next((1.0 / rank for rank, d in enumerate(top, start=1) if d in relevant), 0.0)
    ideal = _dcg(sorted(relevant.values(), reverse=True)[:k])
    return _dcg([float(relevant.get(d, 0)) for d in top]) / (ideal or 1.0)


def per_query(metric: str, qrels: dict[str, dict[str, int]], ranking: dict[str, list[str]]) -> np.ndarray:
    """Scores in sorted question-id order, as ranx sums them (so means round alike); a question missing from
    ``ranking`` retrieved nothing (ranx's make_comparable)."""
    kind, k = parse_metric(metric)
    return np.array([query_score(kind, k, qrels[q], ranking.get(q, [])) for q in sorted(qrels)], dtype=np.float64)


def paired_p_value(control: np.ndarray, treatment: np.ndarray) -> float:
    """Two-sided paired Student's t-test; nan where the two never differ (no variance to test)."""
    from scipy.stats import ttest_rel

    return float(ttest_rel(control, treatment, alternative="two-sided").pvalue)
