"""The agent's two tools as BrowseComp-Plus defines them: ``search(query)`` → top-k ``{docid, score, snippet}``,
``get_document(docid)`` → ``{docid, text}`` (or ``{"error"}``), both JSON strings as the function-calling clients
send them back to the model."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(r"\w+|[^\w\s]")

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "search",
        "description": "Search the knowledge base. Returns the top-k hits with docid, score and a snippet.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "Search query."}},
                       "required": ["query"]}}},
    {"type": "function", "function": {
        "name": "get_document",
        "description": "Retrieve a full document by its docid.",
        "parameters": {"type": "object", "properties": {"docid": {"type": "string", "description": "Document id."}},
                       "required": ["docid"]}}},
]


def truncate(text: str, tokens: int) -> str:
    """The text up to its ``tokens``-th token (words and punctuation marks); all of it when ``tokens`` <= 0."""
    if tokens <= 0:
        return text
    for i, match in enumerate(_TOKEN.finditer(text), start=1):
        if i == tokens:
            return text[: match.end()]
    return text


class ToolError(ValueError):
    """A tool call the agent cannot run (bad arguments, unknown tool): its message goes back to the model."""


@dataclass
class ToolBox:
    retriever: Any  # search_batch(queries, k) -> [[Hit]], get_document(docid) -> str | None
    k: int = 5
    snippet_tokens: int = 512
    document_tokens: int = 4096
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # one retriever, many agent threads

    def call(self, name: str, raw_arguments: Any) -> tuple[str, dict[str, Any]]:
        """(the tool message for the model, what happened: ``docids`` shown or opened, ``ok``)."""
        try:
            args = raw_arguments if isinstance(raw_arguments, dict) else json.loads(raw_arguments or "{}")
            if not isinstance(args, dict):
                raise ToolError(f"arguments must be a JSON object, got {type(args).__name__}")
        except ValueError as exc:
            return _error(f"could not parse the arguments as JSON: {exc}"), {"ok": False, "docids": []}
        try:
            if name == "search":
                return self.search(args)
            if name == "get_document":
                return self.get_document(args)
            raise ToolError(f"unknown tool {name!r}; the tools are search and get_document")
        except ToolError as exc:
            return _error(str(exc)), {"ok": False, "docids": []}

    def search(self, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        query = args.get("query")
        if isinstance(query, list) and len(query) == 1:
            query = query[0]
        if not isinstance(query, str) or not query.strip():
            raise ToolError("search needs a non-empty string 'query'")
        with self._lock:
            hits = self.retriever.search_batch([query], self.k)[0]
            texts = [self.retriever.get_document(hit.docid) or "" for hit in hits]
        out = []
        for hit, text in zip(hits, texts, strict=True):
            item: dict[str, Any] = {"docid": hit.docid}
            if hit.score is not None:
                item["score"] = round(float(hit.score), 5)
            item["snippet"] = truncate(text, self.snippet_tokens)
            out.append(item)
        return json.dumps(out, indent=2), {"ok": True, "docids": [h.docid for h in hits], "query": query}

    def get_document(self, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        docid = args.get("docid")
        if isinstance(docid, int) and not isinstance(docid, bool):
            docid = str(docid)
        if not isinstance(docid, str) or not docid.strip():
            raise ToolError("get_document needs a string 'docid'")
        with self._lock:
            text = self.retriever.get_document(docid.strip())
        if text is None:
            return json.dumps({"error": f"Document with docid '{docid}' not found"}), {"ok": False, "docids": []}
        body = {"docid": docid.strip(), "text": truncate(text, self.document_tokens)}
        return json.dumps(body, indent=2), {"ok": True, "docids": [docid.strip()]}


def _error(message: str) -> str:
    return json.dumps({"error": message})
