"""A retriever behind HTTP: the lrat search service (or anything speaking the same small JSON protocol).

POST {url}/search        {"query": str, "k": int}          -> {"results": [{"docid": str, "score": float}, ...]}
POST {url}/search_batch  {"queries": [str], "k": int}      -> {"results": [[{"docid", "score"}, ...], ...]}
POST {url}/get_document  {"docid": str}                    -> {"docid": str, "text": str}   (404: unknown docid)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from lrat.retrieval.base import Hit


class HttpRetriever:
    def __init__(self, url: str, timeout: float = 30.0, max_batch: int = 64) -> None:
        """``max_batch``: most queries per /search_batch (the service's ``serve.max_batch``); more are sent in
        several requests, so a simulator with hundreds of agents in flight stays within the service's limit."""
        self.url, self.timeout, self.name = url.rstrip("/"), timeout, url
        self.max_batch = max(1, max_batch)
        self._batch = True

    def _post(self, route: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(f"{self.url}/{route}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read())

    @staticmethod
    def _hits(rows: list[dict[str, Any]]) -> list[Hit]:
        return [Hit(str(r["docid"]), float(r.get("score", 0.0))) for r in rows]

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return self._hits(self._post("search", {"query": query, "k": k})["results"])

    def search_batch(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        if self._batch and queries:
            try:
                out: list[list[Hit]] = []
                for start in range(0, len(queries), self.max_batch):
                    answer = self._post("search_batch", {"queries": queries[start:start + self.max_batch], "k": k})
                    out += [self._hits(rows) for rows in answer["results"]]
                return out
            except urllib.error.HTTPError as exc:
                if exc.code not in (404, 405):
                    raise
                self._batch = False  # an older service: fall back to one request per query
        return [self.search(q, k) for q in queries]

    def get_document(self, docid: str) -> str | None:
        try:
            return str(self._post("get_document", {"docid": docid})["text"])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
