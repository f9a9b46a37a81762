"""A simulated run as the LRAT authors' BrowseComp-Plus fork writes it (trajectory-formats.md §2.3-§2.4)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from lrat.simulate.world import Question


def run_record(q: Question, run: dict[str, Any], retriever: str, seed: int, k: int, snippet_words: int) -> dict:
    counts = Counter(item["tool_name"] for item in run["result"] if item["type"] == "tool_call")
    return {
        "metadata": {"model": "lrat-simulated-agent", "retriever": retriever, "seed": seed, "k": k,
                     "snippet_max_tokens": round(snippet_words * 4 / 3), "searcher_type": "dense"},
        "query_id": q.qid,
        "tool_call_counts": dict(sorted(counts.items())),
        "tool_call_counts_all": dict(sorted(counts.items())),
        "status": run["status"],
        "retrieved_docids": sorted(run["seen"], key=int),
        "result": run["result"],
        "query": q.text,
        "answer": q.answer,
    }
