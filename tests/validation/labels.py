"""Synthetic, realistic label sets for the validation gate: what `lrat mine` writes, with known statistics.

Two weighting groups, lognormal reasoning lengths (a few unknown), weights from ``lrat.weighting``, about 75 % of
rows kept by the judge, and a fifth of the rows on qrels evidence with about 97 % kept (the paper's 97.2 %).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lrat.weighting import grouped_weights


@dataclass
class LabelSet:
    rows: list[dict[str, Any]]
    evidence: set[tuple[str, str]] = field(default_factory=set)  # (query_id, pos_id) judged evidence

    def write(self, directory: Path, name: str = "labels.jsonl") -> Path:
        path = directory / name
        path.write_text("".join(json.dumps(r) + "\n" for r in self.rows), encoding="utf-8")
        return path

    def write_qrels(self, directory: Path, name: str = "qrels.txt") -> Path:
        """Evidence with rel 1, plus judged non-evidence (rel 0) lines that must not count."""
        lines = [f"{q} 0 {d} 1" for q, d in sorted(self.evidence)]
        lines += [f"{r['query_id']} 0 {r['neg_ids'][0]} 0" for r in self.rows[:20] if r["neg_ids"]]
        path = directory / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def reweight(self) -> None:
        """Recompute weights the way `lrat mine` does (per group, over every row of the file)."""
        weights, _ = grouped_weights([r["reasoning_len"] for r in self.rows], [r["group"] for r in self.rows])
        for r, w in zip(self.rows, weights, strict=True):
            r["weight"] = w


def make_labels(n: int = 300, seed: int = 13) -> LabelSet:
    """A clean label set of ``n`` rows that passes the default bounds (deterministic for a seed)."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    evidence: set[tuple[str, str]] = set()
    for i in range(n):
        trajectory, ordinal = f"traj-{i // 6}", i % 6
        query_id = f"q{i // 6}"
        is_evidence = i % 5 == 0
        # deterministic shares: 1 in 30 evidence rows dropped (~97 %), 1 in 4 other rows dropped (75 %)
        satisfied = (i // 5) % 30 != 7 if is_evidence else i % 10 not in (1, 7)
        length = None if i % 37 == 3 else max(1, round(rng.lognormvariate(4.7 if is_evidence else 4.4, 0.7)))
        negs = [f"doc-{i}-n{k}" for k in range(1 + i % 3)]
        row = {
            "trajectory_id": trajectory,
            "query_id": query_id,
            "search_ordinal": None if i % 41 == 5 else ordinal,
            "query": f"who founded the company behind product {i // 6}?",
            "pos_id": f"doc-{i}",
            "pos": f"Document {i}: a page about product {i // 6} and its founders.",
            "neg_ids": negs,
            "negs": [f"Text of {d}." for d in negs],
            "reasoning_len": length,
            "satisfied": satisfied,
            "judge": {"backend": "rules", "verdict": "RELEVANT" if satisfied else "NOT_RELEVANT", "error": None},
            "weight": 1.0,
            "group": "sim" if i % 2 == 0 else "bcp",
            "pairing": "attributed" if i % 3 else "latest",
        }
        rows.append(row)
        if is_evidence:
            evidence.add((query_id, row["pos_id"]))
    labels = LabelSet(rows, evidence)
    labels.reweight()
    return labels
