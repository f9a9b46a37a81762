"""The normalized trajectory record (``trajectory-formats.md`` §8), built one step at a time by every importer.

Records are plain dicts (they go straight to JSONL and back); this module is the single place that knows their shape.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lrat.ingest.context import RecordContext

SCHEMA_VERSION = 1
FORMATS = ("bcp", "search-r1", "openai-chat", "native", "service")
STATUSES = ("completed", "incomplete", "failed")


class RecordError(ValueError):
    """A record that cannot be read. Its message goes to ``rejects.jsonl``, so it must make sense to a person."""


class Steps:
    """Appends steps in generation order, numbering ``idx`` and the 1-based search ``ordinal``."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.searches = 0

    def _add(self, step: dict[str, Any]) -> dict[str, Any]:
        step["idx"] = len(self.items)
        self.items.append(step)
        return step

    def reasoning(self, text: str) -> None:
        self._add({"kind": "reasoning", "idx": 0, "text": text})

    def search(
        self,
        query: str | None,
        queries_requested: list[str],
        results: list[dict[str, Any]] | None,
        error: str | None = None,
    ) -> None:
        self.searches += 1
        self._add(
            {
                "kind": "search",
                "idx": 0,
                "ordinal": self.searches,
                "query": query,
                "queries_requested": queries_requested,
                "results": results,
                "error": error,
            }
        )

    def browse(self, docid: str | None, url: str | None, found: bool, error: str | None = None) -> None:
        self._add(
            {
                "kind": "browse",
                "idx": 0,
                "docid": docid,
                "url": url,
                "found": found,
                "error": error,
                "attributed_search": None,
                "latest_search_before": None,
                "repeat": False,
                "reasoning_after": None,
            }
        )

    def answer(self, text: str) -> None:
        self._add({"kind": "answer", "idx": 0, "text": text})

    def other_tool(self, name: str, arguments: Any, output: str | None) -> None:
        self._add({"kind": "other_tool", "idx": 0, "name": name, "arguments": arguments, "output": output})


def result(
    docid: str | None, rank: int, score: float | None = None, title: str | None = None, url: str | None = None
) -> dict[str, Any]:
    return {"docid": docid, "rank": rank, "score": score, "title": title, "url": url}

# Where chat and transcript records keep their query id.
ID_KEYS = ("query_id", "id", "qid")


def trajectory_id(fmt: str, path: str, line: int | None = None, item: int | None = None) -> str:
    """``<format>:<relative path>[#<line>]``; a JSON file holding a list of records uses ``#<item>`` instead."""
    suffix = f"#{line}" if line is not None else (f"#{item}" if item is not None else "")
    return f"{fmt}:{path}{suffix}"


def new_record(
    fmt: str,
    ctx: RecordContext,
    *,
    steps: Steps,
    status: str,
    status_raw: str | None,
    query_id: Any = None,
    question: str | None = None,
    gold_answer: str | None = None,
    answer_text: str | None = None,
    writer: str | None = None,
    model: str | None = None,
    retriever: str | None = None,
    snippet_max_tokens: int | None = None,
    k: int | None = None,
    record_id: str | None = None,
) -> dict[str, Any]:
    """A record without derived fields; ``record_id`` replaces the place-based id where the format has its own
    (a service trajectory spans many shards and is known by the caller's id)."""
    assert status in STATUSES, status
    return {
        "schema_version": SCHEMA_VERSION,
        "trajectory_id": record_id if record_id is not None else trajectory_id(fmt, ctx.path, ctx.line, ctx.item),
        "source": {
            "format": fmt,
            "path": ctx.path,
            "line": ctx.line,
            "writer": writer,
            "model": model,
            "retriever": retriever,
            "snippet_max_tokens": snippet_max_tokens,
            "k": k,
        },
        "query_id": None if query_id is None else str(query_id).strip(),
        "question": question,
        "gold_answer": gold_answer,
        "gold_evidence_ids": None,
        "gold_answer_ids": None,
        "status": status,
        "status_raw": status_raw,
        "final_answer": final_answer(answer_text) if answer_text is not None else None,
        "steps": steps.items,
        "warnings": [],
    }


_EXACT = re.compile(r"^\s*\**\s*exact answer\s*\**\s*:\s*\**(.*?)\**\s*$", re.IGNORECASE | re.MULTILINE)
_CONFIDENCE = re.compile(r"confidence\s*\**\s*:\s*\**\s*([0-9]+(?:\.[0-9]+)?)\s*%?", re.IGNORECASE)
_CITATION = re.compile(r"[\[【]\s*(\d+(?:\s*[,;]\s*\d+)*)\s*[\]】]")


def final_answer(text: str) -> dict[str, Any]:
    """Split a BC+-style answer into its parts; ``confidence`` is in percent (capped at 100) as BC+ grades it."""
    exact_match = _EXACT.search(text)
    exact = exact_match.group(1).strip() if exact_match else text.strip()
    conf_match = _CONFIDENCE.search(text)
    confidence = min(float(conf_match.group(1)), 100.0) if conf_match else None
    cited: list[str] = []
    for group in _CITATION.findall(text):
        for docid in re.split(r"\s*[,;]\s*", group.strip()):
            if docid not in cited:
                cited.append(docid)
    return {"text": text, "exact": exact, "confidence": confidence, "cited_docids": cited}
