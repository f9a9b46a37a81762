"""The search the service runs, as a plain object: encoder + FAISS index + documents from one packaged folder.

The service is a thin HTTP shell over this; tests and the benchmark's in-process baseline call it directly, so
"what the service answers" and "what the model and index answer" are the same code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lrat.retrieval.encoder import encode, fingerprint
from lrat.retrieval.local import ranked, search_depth
from lrat.serving.index import check_pairing, load_index
from lrat.serving.models import served_model

if TYPE_CHECKING:
    import faiss
    from sentence_transformers import SentenceTransformer

ENCODER_DIR, INDEX_DIR, DOCUMENTS = "encoder", "index", "documents.jsonl"


def read_documents(path: Path) -> dict[str, tuple[str, str]]:
    """docid → (title, text); a corpus line without a title gets an empty one (titles are optional)."""
    out: dict[str, tuple[str, str]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                record = json.loads(line)
                out[str(record["docid"]).strip()] = (str(record.get("title") or ""), str(record["text"]))
    return out


def length_groups(lengths: list[int], fixed: int = 64) -> list[list[int]]:
    """Indices grouped by token length, shortest first, at the least cost: each encode call costs about ``fixed``
    tokens' worth of work however small it is (measured for MiniLM on CPU), plus every row padded to its group's
    longest. Dynamic programming over the sorted lengths (a batch holds a few dozen queries)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    ordered = [lengths[i] for i in order]
    best, cut = [0.0] + [float("inf")] * len(order), [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        for start in range(end):
            cost = best[start] + fixed + (end - start) * ordered[end - 1]
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups, end = [], len(order)
    while end > 0:
        groups.append(order[cut[end]:end])
        end = cut[end]
    return groups[::-1]


class SearchEngine:
    def __init__(self, model: SentenceTransformer, index: faiss.Index, docids: list[str],
                 documents: dict[str, tuple[str, str]], manifest: dict[str, Any]) -> None:
        self.model, self.index, self.docids, self.documents = model, index, docids, documents
        self.manifest = manifest
        self.query_prompt = str(manifest["prompts"]["query"])
        self.model_info = served_model(manifest["model"])

    @classmethod
    def load(cls, folder: Path, threads: int = 0) -> SearchEngine:
        """A packaged folder (``encoder/``, ``index/``, ``documents.jsonl``); refuses an index built by another
        model."""
        from sentence_transformers import SentenceTransformer

        if threads > 0:
            import torch

            torch.set_num_threads(threads)
        folder = Path(folder)
        index, docids, manifest = load_index(folder / INDEX_DIR)
        model = SentenceTransformer(str(folder / ENCODER_DIR), device="cpu", local_files_only=True)
        check_pairing(manifest, fingerprint(model), str(folder), folder / ENCODER_DIR)
        model.eval()
        return cls(model, index, docids, read_documents(folder / DOCUMENTS), manifest)

    def search_many(self, requests: list[tuple[str, int]]) -> list[list[dict[str, Any]]]:
        """Many searches, one encode of the distinct queries and one FAISS call: what adaptive batching buys."""
        if not requests:
            return []
        distinct = list(dict.fromkeys(q for q, _ in requests))
        vectors = self.encode_queries(distinct)
        depth = search_depth(self.index.ntotal, max(k for _, k in requests))
        scores, ids = self.index.search(vectors, depth)
        row = {q: i for i, q in enumerate(distinct)}
        return [[{"docid": self.docids[i], "score": s, "rank": r}
                 for r, (i, s) in enumerate(ranked(scores[row[q]], ids[row[q]], k), start=1)]
                for q, k in requests]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """One encode per group of similar token lengths: a batch padded to its longest query costs a short query
        as much as a long one, and on CPU that padding ate most of what batching saves."""
        if len(texts) == 1:
            return encode(self.model, texts, batch_size=1, role="query", prompt=self.query_prompt)
        vectors = np.zeros((len(texts), self.index.d), dtype=np.float32)
        for group in length_groups([len(ids) for ids in self.model.tokenizer(texts)["input_ids"]]):
            vectors[group] = encode(self.model, [texts[i] for i in group], batch_size=len(group), role="query",
                                    prompt=self.query_prompt)
        return vectors

    def get_document(self, docid: str) -> dict[str, str] | None:
        found = self.documents.get(docid)
        return None if found is None else {"docid": docid, "title": found[0], "text": found[1]}
