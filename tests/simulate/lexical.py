"""A small real retriever for fast tests: TF-IDF cosine over the corpus (no model to load)."""

from __future__ import annotations

import math
import re
from collections import Counter

from lrat.retrieval.base import Hit

_WORD = re.compile(r"\w+")


class LexicalRetriever:
    name = "lexical"

    def __init__(self, docs: list[dict], words: int | None = None) -> None:
        """``words``: index only the first N words of each page (a deliberately weaker retriever)."""
        self.docids = [d["docid"] for d in docs]
        self.texts = {d["docid"]: d["text"] for d in docs}
        counts = [Counter(_WORD.findall(" ".join(d["text"].lower().split()[:words]))) for d in docs]
        df = Counter(w for c in counts for w in c)
        self.idf = {w: math.log(len(docs) / n) + 1 for w, n in df.items()}
        self.vectors = [self._norm({w: n * self.idf[w] for w, n in c.items()}) for c in counts]

    @staticmethod
    def _norm(vector: dict[str, float]) -> dict[str, float]:
        size = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        return {w: v / size for w, v in vector.items()}

    def search(self, query: str, k: int = 10) -> list[Hit]:
        q = self._norm({w: n * self.idf.get(w, 0.0) for w, n in Counter(_WORD.findall(query.lower())).items()})
        scores = [(-sum(v * q.get(w, 0.0) for w, v in vec.items()), i) for i, vec in enumerate(self.vectors)]
        return [Hit(self.docids[i], -s) for s, i in sorted(scores)[:k]]

    def search_batch(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        return [self.search(q, k) for q in queries]

    def get_document(self, docid: str) -> str | None:
        return self.texts.get(docid)
