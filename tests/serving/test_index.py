"""`lrat index`: what the manifest says about the model, corpus and index, approximate indexes measured against
exact search, the one cached encoding path, and the refusal to pair an index with another model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lrat.io import file_sha256
from lrat.retrieval.encoder import fingerprint, load_model
from lrat.serving.index import (
    IndexMismatch,
    build_index,
    check_pairing,
    held_out_queries,
    load_index,
    make_index,
    recall_vs_exact,
)
from lrat.serving.settings import IndexSettings
from lrat.settings import settings_from

from .helpers import tiny_ref, write_corpus


def _vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_manifest_names_model_corpus_and_index(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    ref = tiny_ref(tmp_path)
    manifest = build_index(ref, corpus, tmp_path / "index", IndexSettings(), cache_dir=tmp_path / "cache",
                           progress=False)
    assert manifest == json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["model"]["fingerprint"] == fingerprint(load_model(ref.path))
    assert manifest["model"]["source_key"] == ref.source_key and manifest["model"]["version"] is None
    assert manifest["corpus"] == {"path": str(corpus), "sha256": file_sha256(corpus), "n_docs": 80}
    assert manifest["dim"] == 32 and manifest["index"]["faiss"] == "IndexFlatIP"
    assert manifest["recall_at_10_vs_exact"] == 1.0
    index, docids, _ = load_index(tmp_path / "index")
    assert index.ntotal == 80 and docids == [f"d{i:03d}" for i in range(80)]  # row i is corpus line i


def test_a_corpus_is_encoded_once_per_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import lrat.retrieval.encoder as encoder

    corpus = write_corpus(tmp_path / "corpus.jsonl")
    ref = tiny_ref(tmp_path)
    calls: list[int] = []
    real = encoder.encode
    monkeypatch.setattr(encoder, "encode", lambda model, texts, *a, **k: calls.append(len(texts)) or
                        real(model, texts, *a, **k))
    first = build_index(ref, corpus, tmp_path / "a", IndexSettings(), cache_dir=tmp_path / "cache", progress=False)
    assert calls == [80]
    second = build_index(ref, corpus, tmp_path / "b", IndexSettings(), cache_dir=tmp_path / "cache", progress=False)
    assert calls == [80], "the second index must read the cached vectors"
    assert first["index"]["sha256"] == second["index"]["sha256"]


def test_approximate_indexes_report_recall_against_exact():
    vectors, queries = _vectors(2000), _vectors(50, seed=1)
    assert recall_vs_exact(make_index(vectors, IndexSettings()), vectors, queries) == 1.0
    coarse = make_index(vectors, IndexSettings(type="ivf", ivf_nlist=64, nprobe=1))
    fine = make_index(vectors, IndexSettings(type="ivf", ivf_nlist=64, nprobe=64))
    assert recall_vs_exact(coarse, vectors, queries) < 0.9  # random vectors: one cell misses most neighbours
    assert recall_vs_exact(fine, vectors, queries) == 1.0  # every cell searched = exact
    hnsw = make_index(vectors, IndexSettings(type="hnsw", hnsw_m=8, ef_search=256))
    assert 0.5 < recall_vs_exact(hnsw, vectors, queries) <= 1.0


def test_hnsw_manifest_measures_held_out_queries(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus.jsonl", n=300)
    queries = tmp_path / "queries.tsv"
    queries.write_text("".join(f"q{i}\tisland ferry {i} museum\n" for i in range(30)))
    (tmp_path / "splits.json").write_text(json.dumps({"train": [f"q{i}" for i in range(20)],
                                                      "test": [f"q{i}" for i in range(20, 30)]}))
    manifest = build_index(tiny_ref(tmp_path), corpus, tmp_path / "index", IndexSettings(type="hnsw", hnsw_m=4),
                           cache_dir=None, queries=queries, progress=False)
    assert manifest["index"]["faiss"] == "IndexHNSWFlat"
    assert manifest["recall_eval"]["n_queries"] == 10 and "test split" in manifest["recall_eval"]["queries"]
    assert 0.0 < manifest["recall_at_10_vs_exact"] <= 1.0
    index, _, _ = load_index(tmp_path / "index")
    assert index.hnsw.efSearch == IndexSettings().ef_search  # restored from the manifest


def test_held_out_queries_without_splits_take_the_first(tmp_path: Path):
    queries = tmp_path / "queries.tsv"
    queries.write_text("a\tfirst\nb\tsecond\nc\tthird\n")
    texts, source = held_out_queries(queries, "test", 2)
    assert texts == ["first", "second"] and "first 2" in source


def test_an_index_is_refused_with_another_model(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    manifest = build_index(tiny_ref(tmp_path), corpus, tmp_path / "index", IndexSettings(), progress=False)
    other = fingerprint(load_model(tiny_ref(tmp_path, seed=1).path))
    with pytest.raises(IndexMismatch, match="only served with the model that encoded it"):
        check_pairing(manifest, other, "here")
    check_pairing(manifest, manifest["model"]["fingerprint"], "here")  # its own model is fine


def test_a_tampered_docid_map_is_an_error(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    build_index(tiny_ref(tmp_path), corpus, tmp_path / "index", IndexSettings(), progress=False)
    docids = tmp_path / "index" / "docids.json"
    docids.write_text(json.dumps(json.loads(docids.read_text())[:-1]))
    with pytest.raises(IndexMismatch, match="80 vectors"):
        load_index(tmp_path / "index")


def index_settings(section: dict) -> IndexSettings:
    return settings_from({"index": section}).index


def test_index_settings_name_what_is_wrong():
    with pytest.raises(ValueError, match="index.typ: unknown key"):
        index_settings({"typ": "flat"})
    with pytest.raises(ValueError, match="annoy"):
        index_settings({"type": "annoy"})
    with pytest.raises(ValueError, match="ef_search"):
        index_settings({"type": "hnsw", "ef_search": 0})
    with pytest.raises(ValueError, match="more than the"):
        make_index(_vectors(10), IndexSettings(type="ivf", ivf_nlist=50))
