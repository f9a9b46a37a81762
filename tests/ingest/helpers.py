"""Small builders for hand-written BC+ records in tests."""

from __future__ import annotations

import json
from typing import Any

from lrat.ingest.bcp import parse_bcp
from lrat.ingest.context import RecordContext
from lrat.ingest.corpus import CorpusIndex
from lrat.ingest.derive import derive


def item(kind: str, output: Any = None, name: str | None = None, args: Any = None) -> dict[str, Any]:
    return {"type": kind, "tool_name": name, "arguments": args, "output": output}


def think(text: Any) -> dict[str, Any]:
    return item("reasoning", text)


def search(query: Any, output: Any) -> dict[str, Any]:
    args = query if isinstance(query, str) and query.startswith("{") else json.dumps({"query": query})
    return item("tool_call", output, "search", args)


def get_doc(docid: Any, output: Any = "found", name: str = "get_document") -> dict[str, Any]:
    if output == "found":
        output = json.dumps({"docid": str(docid), "text": "some text"})
    return item("tool_call", output, name, json.dumps({"docid": docid}))


def answer(text: str = "Exact Answer: x") -> dict[str, Any]:
    return item("output_text", text)


def hits(*docids: str) -> str:
    return json.dumps([{"docid": d, "score": 10.0 - i, "snippet": f"snippet {d}"} for i, d in enumerate(docids)])


def docid_lines(*docids: str) -> str:
    body = "\n\n".join(f"DocID:{d}\n[Title {d}]\nsnippet" for d in docids)
    return f"A search for 'q' found {len(docids)} results:\n\n## Web Results\n{body}"


def run(result: list[Any], status: str = "completed", corpus: CorpusIndex | None = None, **extra: Any) -> dict:
    record = {"query_id": "7", "status": status, "result": result, **extra}
    return derive(parse_bcp(record, RecordContext(path="run.json", corpus=corpus)))


def kinds(record: dict) -> list[str]:
    return [s["kind"] for s in record["steps"]]


def browses(record: dict) -> list[dict]:
    return [s for s in record["steps"] if s["kind"] == "browse"]


def searches(record: dict) -> list[dict]:
    return [s for s in record["steps"] if s["kind"] == "search"]
