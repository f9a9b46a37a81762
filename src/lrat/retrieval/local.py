"""The in-process retriever: a sentence-transformers model over a FAISS inner-product index."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lrat.retrieval.base import Hit
from lrat.retrieval.encoder import corpus_embeddings, encode, fingerprint, load_model
from lrat.retrieval.prompts import effective_prompts, own_prompts
from lrat.retrieval.vectors import precision_tag
from lrat.settings import Encoding

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def read_corpus(path: Path) -> tuple[list[str], list[str]]:
    """Docids and texts of a ``{docid, text[, title]}`` JSONL corpus; a bad line is an error naming file and line."""
    docids: list[str] = []
    texts: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                docid, text = str(record["docid"]).strip(), record["text"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a corpus record {{docid, text}} ({exc})") from None
            if not isinstance(text, str):
                raise ValueError(f"{path}:{number}: 'text' is not a string")
            docids.append(docid)
            texts.append(text)
    if not docids:
        raise ValueError(f"{path}: the corpus is empty")
    return docids, texts


def search_depth(ntotal: int, k: int) -> int:
    """How deep to ask FAISS for a top-``k``: a few extra rows so ties at rank ``k`` are broken by corpus order."""
    return min(ntotal, k + 8)


def ranked(scores: np.ndarray, ids: np.ndarray, k: int) -> list[tuple[int, float]]:
    """One FAISS result row as ``(corpus index, score)``, best first; scores rounded to 5 decimals and ties broken
    by corpus order, so the same model and index rank the same way in every process (and behind the service)."""
    order = sorted((-round(float(s), 5), int(i)) for s, i in zip(scores, ids, strict=True) if i >= 0)
    return [(i, -s) for s, i in order[:k]]


class LocalRetriever:
    """Exact search (IndexFlatIP on normalised vectors = cosine); ties break by corpus order, so runs repeat."""

    def __init__(self, model: SentenceTransformer, docids: list[str], texts: list[str], embeddings: np.ndarray,
                 name: str = "local", query_prompt: str | None = None, batch_size: int = 128,
                 precision: str = "fp32") -> None:
        """``query_prompt`` None: the model's own query prompt (``encode_query``)."""
        import faiss

        self.model, self.name, self.batch_size, self.precision = model, name, batch_size, precision
        self.query_prompt = own_prompts(model).query if query_prompt is None else query_prompt
        self.docids, self.texts = docids, texts
        self._by_id = {d: i for i, d in enumerate(docids)}
        self.index = faiss.IndexFlatIP(embeddings.shape[1])
        self.index.add(embeddings)
        self._cache: dict[str, np.ndarray] = {}
        self._cache_file: Path | None = None
        self._loaded = 0

    @classmethod
    def build(cls, spec: str, corpus: Path, cache_dir: Path | None = None, encoding: Encoding = Encoding(),
              progress: bool = True, workers: int = 1, devices: list[str] | None = None) -> LocalRetriever:
        """``encoding``: the prompt overrides (None: the model's own prompts), the device, precision and batch size
        from ``retrieval:``; ``workers`` / ``devices``: processes that encode the corpus when it is not cached
        (`corpus_embeddings`)."""
        from lrat.retrieval.memory import check_exact_index

        docids, texts = read_corpus(corpus)
        model = load_model(spec, encoding.device)
        check_exact_index(len(docids), model.get_embedding_dimension() or 0, corpus)
        key = fingerprint(model)
        prompts = effective_prompts(model, encoding)
        vectors = corpus_embeddings(model, texts, cache_dir, prompts.document, batch_size=encoding.batch_size,
                                    progress=progress, model_key=key, workers=workers, devices=devices,
                                    precision=encoding.precision)
        retriever = cls(model, docids, texts, vectors, name=spec, query_prompt=prompts.query,
                        batch_size=encoding.batch_size or 128, precision=encoding.precision)
        if cache_dir is not None:  # the query prompt is part of the key: another prompt never reuses vectors
            prompt = hashlib.sha256(prompts.query.encode()).hexdigest()[:8]
            tag = precision_tag(model, encoding.precision)
            retriever.load_query_cache(cache_dir / f"queries-{key}-{prompt}{tag}.npz")
        return retriever

    def load_query_cache(self, path: Path) -> None:
        """Query vectors survive between commands (the world stage encodes every question the agents ask first)."""
        self._cache_file = path
        if path.exists():
            with np.load(path) as data:
                self._cache.update(zip(data["texts"].tolist(), data["vectors"], strict=True))
        self._loaded = len(self._cache)

    def save_query_cache(self) -> None:
        if self._cache_file is None or len(self._cache) == self._loaded:
            return
        texts = sorted(self._cache)
        tmp = self._cache_file.with_suffix(".tmp.npz")
        self._cache_file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, texts=np.array(texts, dtype=str), vectors=np.stack([self._cache[t] for t in texts]))
        tmp.replace(self._cache_file)
        self._loaded = len(self._cache)

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        todo = sorted({q for q in queries if q not in self._cache})
        if todo:
            vectors = encode(self.model, todo, self.batch_size, role="query", prompt=self.query_prompt,
                             precision=self.precision)
            self._cache.update(zip(todo, vectors, strict=True))
        return np.stack([self._cache[q] for q in queries]) if queries else np.zeros((0, self.index.d), np.float32)

    def search_batch(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        if not queries:
            return []
        scores, ids = self.index.search(self.encode_queries(queries), search_depth(self.index.ntotal, k))
        return [[Hit(self.docids[i], s) for i, s in ranked(row_scores, row_ids, k)]
                for row_scores, row_ids in zip(scores, ids, strict=True)]

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return self.search_batch([query], k)[0]

    def get_document(self, docid: str) -> str | None:
        i = self._by_id.get(str(docid))
        return None if i is None else self.texts[i]
