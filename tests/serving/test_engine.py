"""The search behind the service, called in-process: the same answers as the project's in-process retriever,
documents by docid, length-grouped batch encoding, and the refusal of a swapped encoder."""

from __future__ import annotations

import itertools
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from lrat.retrieval.encoder import encode
from lrat.retrieval.local import LocalRetriever
from lrat.serving.engine import ENCODER_DIR, SearchEngine, length_groups
from lrat.serving.index import IndexMismatch

from .helpers import QUERIES, packaged, tiny_ref, write_corpus


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[SearchEngine, LocalRetriever, Path, Path]:
    tmp = tmp_path_factory.mktemp("engine")
    corpus = write_corpus(tmp / "corpus.jsonl")
    ref = tiny_ref(tmp)
    folder = packaged(tmp, ref, corpus)
    return SearchEngine.load(folder), LocalRetriever.build(ref.path, corpus, tmp / "cache", progress=False), \
        folder, tmp


def test_answers_what_the_in_process_retriever_answers(setup):
    engine, local, _, _ = setup
    requests = [(q, k) for q, k in zip(QUERIES, (1, 3, 5, 10, 10, 20), strict=True)]
    answers = engine.search_many(requests)
    for (query, k), rows in zip(requests, answers, strict=True):
        expected = local.search(query, k)
        assert [r["docid"] for r in rows] == [h.docid for h in expected]
        assert np.allclose([r["score"] for r in rows], [h.score for h in expected], atol=1e-5)
        assert [r["rank"] for r in rows] == list(range(1, k + 1))


def test_repeated_queries_in_one_batch_share_an_encode(setup, monkeypatch: pytest.MonkeyPatch):
    engine = setup[0]
    import lrat.serving.engine as module

    sizes: list[int] = []
    real = module.encode
    monkeypatch.setattr(module, "encode", lambda model, texts, *a, **k: sizes.append(len(texts)) or
                        real(model, texts, *a, **k))
    answers = engine.search_many([("island ferry", 3), ("island ferry", 5), ("harbour records", 2)])
    assert sum(sizes) == 2  # two distinct queries
    assert [len(a) for a in answers] == [3, 5, 2] and answers[0] == answers[1][:3]
    assert engine.search_many([]) == []


def test_batch_encoding_matches_one_at_a_time(setup):
    engine = setup[0]
    rng = random.Random(0)
    texts = [" ".join(rng.choice(QUERIES) for _ in range(rng.randint(1, 8))) for _ in range(24)]
    together = engine.encode_queries(texts)
    alone = np.vstack([encode(engine.model, [t], batch_size=1) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_length_groups_cover_every_index_once_at_the_least_cost():
    rng = random.Random(1)
    lengths = [rng.randint(1, 200) for _ in range(12)]
    groups = length_groups(lengths, fixed=64)
    assert sorted(i for g in groups for i in g) == list(range(12))
    assert all(max(lengths[i] for i in a) <= min(lengths[i] for i in b) for a, b in itertools.pairwise(groups))

    def cost(split: list[list[int]]) -> int:
        return sum(64 + len(g) * max(lengths[i] for i in g) for g in split)

    order = sorted(range(12), key=lambda i: lengths[i])  # every way to cut the sorted list: none is cheaper
    for mask in range(1 << 11):
        cuts = [0] + [i + 1 for i in range(11) if mask >> i & 1] + [12]
        assert cost(groups) <= cost([order[a:b] for a, b in itertools.pairwise(cuts)])
    assert length_groups([8, 9, 10]) == [[0, 1, 2]]  # similar lengths: one encode
    assert length_groups([8, 400], fixed=64) == [[0], [1]]  # padding 8 to 400 costs more than a second call
    assert length_groups([]) == []


def test_documents_by_docid(setup):
    engine, _, folder, _ = setup
    first = json.loads((folder / "documents.jsonl").read_text().splitlines()[1])
    assert engine.get_document(first["docid"]) == {"docid": first["docid"], "title": first["title"],
                                                    "text": first["text"]}
    assert engine.get_document("d000")["title"] == ""  # a corpus line without a title
    assert engine.get_document("nope") is None


def test_a_swapped_encoder_is_refused(setup):
    _, _, folder, tmp = setup
    swapped = tmp / "swapped"
    shutil.copytree(folder, swapped)
    shutil.rmtree(swapped / ENCODER_DIR)
    shutil.copytree(tiny_ref(tmp, seed=3).path, swapped / ENCODER_DIR)
    with pytest.raises(IndexMismatch, match="only served with the model that encoded it"):
        SearchEngine.load(swapped)


def test_served_model_names_the_registry_version_or_the_files(setup):
    engine = setup[0]
    assert engine.model_info["name"].endswith("tiny-0")
    assert engine.model_info["version"].startswith("files-")
