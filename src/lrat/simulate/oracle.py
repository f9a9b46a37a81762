"""An oracle retriever for experiments: it puts the pages a question needs on top of another retriever's list.

It shows what a much better retriever would do for the agent (fewer searches, more successes) without
training one.
"""

from __future__ import annotations

import re

from lrat.retrieval.base import Hit, Retriever
from lrat.simulate.world import World

_WORD = re.compile(r"\w+")


class OracleRetriever:
    def __init__(self, inner: Retriever, world: World) -> None:
        self.inner, self.name = inner, f"oracle({inner.name})"
        self.targets: dict[str, list[str]] = {}
        names = {e.docid: e.name.lower() for e in world.entities}
        self._by_first: dict[str, list[tuple[str, str]]] = {}  # a name's first word -> (name, page)
        for q in world.questions:
            self.targets[q.text] = list(q.evidence)
            for d in q.evidence:
                entry = (names[d], d)
                bucket = self._by_first.setdefault(_WORD.findall(names[d])[0], [])
                if entry not in bucket:
                    bucket.append(entry)

    def _boost(self, query: str, hits: list[Hit], k: int) -> list[Hit]:
        lowered = query.lower()
        wanted = self.targets.get(query)
        if wanted is None:  # a sub-query: the pages whose entity it names, in the order it names them
            named = {(lowered.find(name), d) for word in _WORD.findall(lowered)
                     for name, d in self._by_first.get(word, ()) if name in lowered}
            wanted = [d for _, d in sorted(named)]
        top = list(dict.fromkeys(wanted))[:k]
        rest = [h for h in hits if h.docid not in top]
        return [Hit(d, 1.0) for d in top] + rest[: k - len(top)]

    def search_batch(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        return [self._boost(q, hits, k) for q, hits in zip(queries, self.inner.search_batch(queries, k), strict=True)]

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return self.search_batch([query], k)[0]

    def get_document(self, docid: str) -> str | None:
        return self.inner.get_document(docid)
