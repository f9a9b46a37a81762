"""`lrat index`: the corpus vectors of one model (through the one cached encoding path) in a FAISS index, with the
docid map and a manifest that ties the index to the exact model and corpus it was built from."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lrat.io import atomic_open, file_sha256, write_json
from lrat.serving.models import ModelRef
from lrat.serving.settings import IndexSettings
from lrat.settings import Encoding

if TYPE_CHECKING:
    import faiss

INDEX_FILE, DOCIDS_FILE, MANIFEST_FILE = "index.faiss", "docids.json", "manifest.json"


class IndexMismatch(ValueError):
    """An index is being paired with a model (or corpus) other than the one it was built with."""


def make_index(vectors: np.ndarray, settings: IndexSettings) -> faiss.Index:
    """Exact inner product (cosine on normalised vectors) by default; HNSW or IVF when the corpus is large."""
    import faiss

    n, dim = vectors.shape
    if settings.type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.ef_construction
        index.add(vectors)
    elif settings.type == "ivf":
        nlist = settings.ivf_nlist or max(1, int(4 * math.sqrt(n)))
        if n < nlist:
            raise ValueError(f"index.ivf_nlist {nlist} is more than the {n} documents: lower it or use flat/hnsw")
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.add(vectors)
    else:
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
    set_search_params(index, settings.search_params())
    return index


def set_search_params(index: faiss.Index, params: dict[str, Any]) -> None:
    """efSearch / nprobe are not all kept by faiss.write_index, so they are set again from the manifest on load."""
    if "ef_search" in params and hasattr(index, "hnsw"):
        index.hnsw.efSearch = int(params["ef_search"])
    if "nprobe" in params and hasattr(index, "nprobe"):
        index.nprobe = int(params["nprobe"])


def recall_vs_exact(index: faiss.Index, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    """Mean share of the exact top-``k`` that the index returns (1.0 for the exact index itself)."""
    import faiss

    if len(queries) == 0:
        return float("nan")
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    k = min(k, len(vectors))
    _, truth = exact.search(queries, k)
    _, found = index.search(queries, k)
    return float(np.mean([len(set(t) & set(f)) / k for t, f in zip(truth, found, strict=True)]))


def held_out_queries(queries: Path | None, split: str, limit: int, splits: Path | None = None
                     ) -> tuple[list[str], str]:
    """Query texts to measure an approximate index with: the ``split`` questions of ``splits`` (`lrat split`'s
    file) or of a ``splits.json`` beside the queries file, else the first ``limit`` queries; ``(texts, where they
    came from)``."""
    if queries is None or not queries.is_file():
        return [], "none"
    from lrat.evaluation.offline import read_queries, read_splits

    texts = read_queries(queries)
    for path in (splits, queries.parent / "splits.json"):
        if path is not None and path.is_file() and split in (chosen_ids := read_splits(path)):
            chosen = [texts[q] for q in chosen_ids[split] if q in texts][:limit]
            if chosen:  # (a split of other questions says nothing about these)
                return chosen, f"{queries} ({split} split of {path})"
    return list(texts.values())[:limit], f"{queries} (first {limit})"


def build_index(ref: ModelRef, corpus: Path, out: Path, settings: IndexSettings, cache_dir: Path | None = None,
                queries: Path | None = None, encoding: Encoding = Encoding(), progress: bool = True,
                workers: int = 1, devices: list[str] | None = None, splits: Path | None = None) -> dict[str, Any]:
    """Write ``index.faiss``, ``docids.json`` and ``manifest.json`` into ``out``; returns the manifest.

    ``workers`` / ``devices``: processes that encode the corpus when it is not cached (`corpus_embeddings`); the
    vectors, hence index and manifest, are the same with any number of them, so neither is recorded."""
    import faiss

    from lrat.retrieval.encoder import corpus_embeddings, encode, fingerprint, load_model
    from lrat.retrieval.local import read_corpus
    from lrat.retrieval.prompts import agreed_prompts

    started = time.perf_counter()
    docids, texts = read_corpus(corpus)
    prompts = agreed_prompts(ref.path, encoding, f"index for {ref.spec}")
    model = load_model(ref.path, encoding.device)
    weights = fingerprint(model)
    vectors = corpus_embeddings(model, texts, cache_dir, prompts.document, batch_size=encoding.batch_size,
                                progress=progress, model_key=weights, workers=workers, devices=devices,
                                precision=encoding.precision)
    index = make_index(vectors, settings)
    held_out, source = [], "none: exact search"
    recall = 1.0  # the exact index is its own reference
    if settings.type != "flat":
        held_out, source = held_out_queries(queries, settings.eval_split, settings.eval_max_queries, splits)
        query_vectors = (encode(model, held_out, role="query", prompt=prompts.query, precision=encoding.precision)
                         if held_out else np.zeros((0, 1)))
        recall = recall_vs_exact(index, vectors, query_vectors)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / INDEX_FILE, "wb") as fh:
        fh.write(faiss.serialize_index(index).tobytes())
    write_json(out / DOCIDS_FILE, docids)
    manifest = {
        "model": {**ref.as_dict(), "fingerprint": weights, "max_seq_length": model.max_seq_length},
        "corpus": {"path": str(corpus), "sha256": file_sha256(corpus), "n_docs": len(docids)},
        "dim": int(vectors.shape[1]),
        "index": {"type": settings.type, "faiss": type(index).__name__, "params": settings.search_params(),
                  "nlist": int(index.nlist) if hasattr(index, "nlist") else None,
                  "sha256": file_sha256(out / INDEX_FILE)},
        "recall_at_10_vs_exact": None if math.isnan(recall) else round(recall, 4),
        "recall_eval": {"queries": source, "n_queries": len(held_out),
                        "note": "exact search: 1.0 by construction" if settings.type == "flat" else ""},
        "prompts": prompts.as_dict(),  # the model's own: the service encodes queries with the query prompt
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_json(out / MANIFEST_FILE, manifest)
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not an lrat index ({MANIFEST_FILE} missing): build one with "
                                "`lrat index`")
    return json.loads(path.read_text(encoding="utf-8"))


def check_pairing(manifest: dict[str, Any], weights: str, where: str, folder: Path | str | None = None) -> None:
    """The model about to serve an index must be the one that encoded it: same weights, same sequence length, and
    (``folder``: the model's) prompts that agree with the ones the index was built with."""
    built = manifest["model"]
    if built["fingerprint"] != weights:
        raise IndexMismatch(
            f"{where}: the index was built with {built['name']} {built.get('version') or ''} (weights "
            f"{built['fingerprint']}) but the model given has weights {weights}; an index is only served with the "
            "model that encoded it: rebuild it with `lrat index --model ...` for this model")
    if "prompts" not in manifest:
        raise IndexMismatch(f"{where}: the index manifest names no prompts (built by an older lrat): rebuild it with "
                            "`lrat index`")
    if folder is not None:
        from lrat.retrieval.prompts import agreed_prompts

        built_with = Encoding(query=manifest["prompts"]["query"], doc=manifest["prompts"]["document"])
        try:
            agreed_prompts(folder, built_with, f"{where}: the index's prompts")
        except ValueError as exc:
            raise IndexMismatch(f"{exc}; rebuild the index with `lrat index` for this model") from None


def load_index(folder: Path) -> tuple[faiss.Index, list[str], dict[str, Any]]:
    """The index, its docids (row i of the index is docids[i]) and its manifest; sizes are checked."""
    import faiss

    manifest = read_manifest(folder)
    index = faiss.deserialize_index(np.frombuffer((Path(folder) / INDEX_FILE).read_bytes(), dtype=np.uint8))
    docids = json.loads((Path(folder) / DOCIDS_FILE).read_text(encoding="utf-8"))
    if index.ntotal != len(docids) or index.d != manifest["dim"]:
        raise IndexMismatch(f"{folder}: index has {index.ntotal} vectors of dim {index.d}, the docid map "
                            f"{len(docids)} and the manifest dim {manifest['dim']}")
    set_search_params(index, manifest["index"]["params"])
    return index, docids, manifest
