"""Hugging Face ids as model specs, and prompts the sentence-transformers way, offline: a Hub cache is built here
from the packaged MiniLM under a made-up id, with prompts in its config_sentence_transformers.json, exactly as
`hf download` leaves one (models--org--name/refs/main + snapshots/<commit>/)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from lrat.cli import app
from lrat.retrieval.prompts import CONFIG
from lrat.settings import Encoding

HUB_ID = "lrat-test/minilm-prompted"
PROMPTS = {"query": "query: ", "document": "passage: "}
runner = CliRunner()


def add_to_hub_cache(cache: Path, repo: str, source: Path, prompts: dict[str, str] | None) -> Path:
    """``source`` (a sentence-transformers folder) as the main branch of ``repo`` in the cache ``cache``."""
    commit = hashlib.sha1(repo.encode()).hexdigest()
    folder = cache / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / commit
    # the weights are linked, as the Hub cache links snapshot files to blobs; the small files are copied
    shutil.copytree(source, snapshot, copy_function=lambda src, dst: (
        os.symlink(os.path.abspath(src), dst) if src.endswith(".safetensors") else shutil.copy2(src, dst)))
    if prompts is not None:
        config = json.loads((snapshot / CONFIG).read_text()) if (snapshot / CONFIG).is_file() else {}
        (snapshot / CONFIG).write_text(json.dumps({**config, "prompts": prompts}))
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lrat.retrieval.encoder import model_path

    cache = tmp_path_factory.mktemp("hf") / "hub"
    add_to_hub_cache(cache, HUB_ID, Path(model_path("base")), PROMPTS)
    add_to_hub_cache(cache, "lrat-test/minilm-other-prompt", Path(model_path("base")),
                     {"query": "search query: ", "document": "passage: "})
    return cache


@pytest.fixture
def offline_hub(hub: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return hub


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lrat.simulate.export import write_world
    from lrat.simulate.world import generate_world

    folder = tmp_path_factory.mktemp("hubworld") / "world"
    write_world(generate_world(7, n_docs=200, n_questions=40), folder)
    return folder


def _params(path: Path, **retrieval: object) -> Path:
    path.write_text(yaml.safe_dump({"retrieval": {"cache_dir": str(path.parent / "cache"), **retrieval}}))
    return path


def _exact_top(queries: np.ndarray, docs: np.ndarray, docids: list[str], k: int = 10) -> list[list[str]]:
    """Exact inner-product search, ties (to 5 decimals) broken by corpus order, as every lrat index does."""
    scores = np.round(queries @ docs.T, 5)
    return [[docids[i] for i in sorted(range(len(docids)), key=lambda i: (-row[i], i))[:k]] for row in scores]


def _plain(spec: str, queries: list[str], texts: list[str], **kw: object) -> tuple[np.ndarray, np.ndarray]:
    """Plain sentence-transformers: the model loaded by its id, encode_query / encode_document."""
    from sentence_transformers import SentenceTransformer

    from lrat.retrieval.encoder import CPU_BATCH

    # cache_folder: huggingface_hub reads HF_HUB_CACHE once, when first imported (maybe before this test set it)
    model = SentenceTransformer(spec, device="cpu", cache_folder=os.environ["HF_HUB_CACHE"])
    return (model.encode_query(queries, batch_size=128, normalize_embeddings=True, **kw),
            model.encode_document(texts, batch_size=CPU_BATCH, normalize_embeddings=True, **kw))


def _trec_top(path: Path, k: int = 10) -> dict[str, list[str]]:
    rows: dict[str, list[tuple[int, str]]] = {}
    for line in path.read_text().splitlines():
        qid, _, docid, rank, _, _ = line.split()
        rows.setdefault(qid, []).append((int(rank), docid))
    return {q: [d for _, d in sorted(r)[:k]] for q, r in rows.items()}


@pytest.mark.slow
def test_evaluate_with_a_hub_id_ranks_as_plain_sentence_transformers(offline_hub: Path, world: Path,
                                                                      tmp_path: Path) -> None:
    from lrat.evaluation.offline import read_queries, read_split
    from lrat.retrieval.local import read_corpus

    done = runner.invoke(app, ["evaluate", "--model", f"x={HUB_ID}", "--world", str(world), "--no-agent",
                               "--split", "test", "--out", str(tmp_path / "eval.json"), "--runs-out",
                               str(tmp_path / "runs"), "--params", str(_params(tmp_path / "p.yaml")), "--quiet"])
    assert done.exit_code == 0, done.output
    served = _trec_top(tmp_path / "runs" / "x.trec")
    texts = read_queries(world / "queries.tsv")
    qids = [q for q in read_split(world, "test") if q in served]
    docids, corpus = read_corpus(world / "corpus.jsonl")
    assert len(qids) >= 5
    queries, docs = _plain(HUB_ID, [texts[q] for q in qids], corpus)
    expected = _exact_top(queries, docs, docids)
    assert [served[q] for q in qids] == expected
    # the prompts were applied: without them the same weights rank otherwise
    bare_q, bare_d = _plain(HUB_ID, [texts[q] for q in qids], corpus, prompt="")
    assert _exact_top(bare_q, bare_d, docids) != expected


def test_a_local_folder_named_like_an_id_wins(offline_hub: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from lrat.retrieval.encoder import fingerprint, load_model
    from lrat.retrieval.specs import hub_id
    from lrat.serving.models import resolve_model
    from tests.training.tiny import tiny_model

    monkeypatch.chdir(tmp_path)
    assert hub_id(HUB_ID) == (HUB_ID, None)
    hub_weights = fingerprint(load_model(HUB_ID))
    tiny_model(tmp_path / HUB_ID)  # ./lrat-test/minilm-prompted: another model
    assert hub_id(HUB_ID) is None
    assert fingerprint(load_model(HUB_ID)) == fingerprint(load_model(str(tmp_path / HUB_ID))) != hub_weights
    assert Path(resolve_model(HUB_ID, "lrat-retriever").path).resolve() == (tmp_path / HUB_ID).resolve()
    assert hub_id(f"{HUB_ID}@main") == (HUB_ID, "main")  # (no folder of that name)


def test_a_revision_loads_that_snapshot(offline_hub: Path) -> None:
    from lrat.retrieval.prompts import own_prompts
    from lrat.retrieval.specs import model_path

    commit = hashlib.sha1(HUB_ID.encode()).hexdigest()
    assert Path(model_path(f"{HUB_ID}@{commit}")).name == commit
    from lrat.retrieval.encoder import load_model

    assert own_prompts(load_model(f"{HUB_ID}@main")).as_dict() == PROMPTS


def test_an_id_missing_from_the_cache_offline_exits_2_naming_it(offline_hub: Path, world: Path,
                                                                 tmp_path: Path) -> None:
    params = str(_params(tmp_path / "p.yaml"))
    for args in (["evaluate", "--model", "x=nobody/missing-model", "--world", str(world), "--no-agent",
                  "--out", str(tmp_path / "e.json")],
                 ["index", "--model", "nobody/missing-model", "--corpus", str(world / "corpus.jsonl"), "--out",
                  str(tmp_path / "ix")]):
        done = runner.invoke(app, [*args, "--params", params, "--quiet"])
        assert done.exit_code == 2, done.output
        message = done.output
        assert "Traceback" not in message and "nobody/missing-model" in message
        assert str(offline_hub) in message and "local sentence-transformers folder" in message


def test_another_prompt_on_the_same_weights_never_reuses_cached_vectors(offline_hub: Path, world: Path,
                                                                        tmp_path: Path) -> None:
    from lrat.retrieval.local import LocalRetriever

    cache = tmp_path / "cache"
    corpus = world / "corpus.jsonl"
    questions = ["who founded the museum", "which ferry reaches the island"]
    own = LocalRetriever.build(HUB_ID, corpus, cache, progress=False)
    own_vectors = own.encode_queries(questions)
    own.save_query_cache()
    files = set(cache.iterdir())
    # the same weights under another id whose config has another query prompt
    other = LocalRetriever.build("lrat-test/minilm-other-prompt", corpus, cache, progress=False)
    assert other.query_prompt == "search query: "
    other_vectors = other.encode_queries(questions)
    other.save_query_cache()
    assert not np.allclose(own_vectors, other_vectors)
    plain = _plain("lrat-test/minilm-other-prompt", questions, ["x"])[0]
    assert np.allclose(other_vectors, plain, atol=1e-6)
    new = set(cache.iterdir()) - files
    assert any(p.name.startswith("queries-") for p in new)  # its own query cache, not the first one's
    assert not any(p.suffix == ".npy" for p in new)  # same weights, same document prompt: corpus vectors shared
    # an override of the document prompt makes its own corpus entry
    LocalRetriever.build(HUB_ID, corpus, cache, Encoding(doc="doc: "), progress=False)
    assert any(p.suffix == ".npy" for p in set(cache.iterdir()) - files - new)
    # and the first retriever, built again, reads its cached query vectors
    again = LocalRetriever.build(HUB_ID, corpus, cache, progress=False)
    assert set(questions) <= set(again._cache) and np.array_equal(again.encode_queries(questions), own_vectors)


def _labels(path: Path, n: int = 16) -> Path:
    import random

    rng = random.Random(0)
    words = "island ferry harbour town boat mainland museum academy founder scholar records lighthouse".split()
    with path.open("w") as fh:
        for i in range(n):
            text = " ".join(rng.choice(words) for _ in range(10))
            fh.write(json.dumps({"trajectory_id": f"t{i}", "query": f"{text[:30]} q{i}", "pos": f"{text} p{i}",
                                 "negs": [f"{text[::-1]} n{i}"], "neg_ids": [f"n{i}"], "satisfied": True,
                                 "weight": 1.0, "reasoning_len": 10 + i}) + "\n")
    return path


@pytest.mark.slow
def test_train_from_an_id_then_register_index_and_serve_with_its_prompts(offline_hub: Path, world: Path,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`lrat train` from the id saves the prompts into the model; the registered version's index and bento carry
    them; a real `bentoml serve` answers /search with the top-10 of in-process encode_query + exact search."""
    import urllib.request

    from sentence_transformers import SentenceTransformer

    from lrat.retrieval.local import read_corpus
    from lrat.serving.bundle import Inputs, package
    from lrat.serving.index import build_index
    from lrat.serving.models import resolve_model
    from lrat.serving.process import serving
    from lrat.serving.settings import IndexSettings, ServeArgs
    from lrat.settings import settings_from
    from lrat.training.train import train
    from tests.conftest import REPO

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "params.yaml").write_text("registry:\n  name: lrat-retriever\n")
    cfg = settings_from({"train": {"base_model": HUB_ID, "batch_size": 4, "max_seq_length": 32, "epochs": 1,
                                   "n_negatives": 1, "experiment": "hub"}}).train
    summary = train(_labels(tmp_path / "labels.jsonl"), tmp_path / "models" / "lrat", cfg, progress=False)
    saved = json.loads((tmp_path / "models" / "lrat" / CONFIG).read_text())
    assert {k: saved["prompts"][k] for k in PROMPTS} == PROMPTS
    import mlflow

    assert mlflow.get_run(summary["run_id"]).data.params["prompts.query"] == PROMPTS["query"]

    done = runner.invoke(app, ["register", "--model-dir", "models/lrat", "--quiet"])
    assert done.exit_code == 0, done.output
    ref = resolve_model("models:/lrat-retriever/1", "lrat-retriever", cache=tmp_path / ".cache" / "models")
    corpus = world / "corpus.jsonl"
    with pytest.raises(ValueError, match=r"retrieval.query_prefix is 'other: ' but the model's own query prompt "
                                         r"is 'query: '"):
        build_index(ref, corpus, tmp_path / "bad", IndexSettings(), encoding=Encoding(query="other: "),
                    progress=False)
    manifest = build_index(ref, corpus, tmp_path / "index", IndexSettings(), cache_dir=tmp_path / "cache",
                           encoding=Encoding(query=PROMPTS["query"]), progress=False)  # an agreeing override
    assert manifest["prompts"] == PROMPTS
    inputs = Inputs(root=REPO, registry="lrat-retriever", corpus=corpus, queries=None, index=IndexSettings(),
                    serve=ServeArgs(), cache_dir=tmp_path / "cache")
    record = package(tmp_path / "index", inputs)

    model = SentenceTransformer(str(tmp_path / "models" / "lrat"), device="cpu")
    docids, texts = read_corpus(corpus)
    questions = ["who founded the museum on the island", "the ferry that reaches the harbour town"]
    alone = np.vstack([model.encode_query([q], normalize_embeddings=True) for q in questions])  # as /search does
    expected = _exact_top(alone, model.encode_document(texts, batch_size=16, normalize_embeddings=True), docids)
    with serving(record["bento"], tmp_path / "serve.log") as (url, _):
        for question, top in zip(questions, expected, strict=True):
            request = urllib.request.Request(f"{url}/search", data=json.dumps({"query": question, "k": 10}).encode(),
                                             headers={"Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(request, timeout=30) as answer:
                body = json.loads(answer.read())
            rows = body["results"] if isinstance(body, dict) else body
            assert [r["docid"] for r in rows] == top


@pytest.mark.parametrize("config", [
    {},
    {"prompts": {"query": "query: ", "document": "passage: "}},
    {"prompts": {"query": "query: ", "passage": "passage: "}},  # E5-style names
    {"prompts": {"query": "q: ", "document": ""}, "default_prompt_name": "query"},
    {"prompts": {"classification": "c: "}, "default_prompt_name": "classification"},
])
def test_a_folders_prompts_are_read_as_sentence_transformers_loads_them(config: dict, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from lrat.retrieval.prompts import folder_prompts, own_prompts
    from tests.training.tiny import tiny_model

    folder = tmp_path / "m"
    tiny_model(folder)
    (folder / CONFIG).write_text(json.dumps(config))
    assert folder_prompts(folder) == own_prompts(SentenceTransformer(str(folder), device="cpu"))


def test_packaging_refuses_an_override_of_a_prompt_the_model_states(tmp_path: Path) -> None:
    from lrat.retrieval.encoder import model_path
    from lrat.retrieval.prompts import Prompts, agreed_prompts

    # the packaged MiniLM states no prompts: an override is what it is packaged with
    assert agreed_prompts(model_path("base"), Encoding(query="q: "), "x") == Prompts("q: ", "")
    stated = tmp_path / "stated"
    stated.mkdir()
    (stated / CONFIG).write_text(json.dumps({"prompts": {"query": "query: ", "document": ""}}))
    assert agreed_prompts(stated, Encoding(query="query: "), "x") == Prompts("query: ", "")
    with pytest.raises(ValueError, match="retrieval.query_prefix is 'other: ' but the model's own query prompt is "
                                         "'query: '"):
        agreed_prompts(stated, Encoding(query="other: "), "x")
    with pytest.raises(ValueError, match="retrieval.doc_prefix is 'd: ' but the model's own document prompt is ''"):
        agreed_prompts(stated, Encoding(doc="d: "), "x")  # a model trained without a prompt states it too


def test_encoding_settings_are_checked_and_reduced_precision_keys_its_own_cache(tmp_path: Path) -> None:
    import torch

    from lrat.retrieval.encoder import load_model
    from lrat.retrieval.vectors import precision_tag
    from lrat.settings import ParamsError, settings_from
    from tests.training.tiny import tiny_model

    for key, value in (("device", "gpu"), ("precision", "fp8"), ("batch_size", 0)):
        with pytest.raises(ParamsError, match=f"retrieval.{key}"):
            settings_from({"retrieval": {key: value}})
    encoding = settings_from({"retrieval": {"device": "cuda:1", "precision": "bf16", "batch_size": 256}}
                             ).retrieval.encoding
    assert (encoding.device, encoding.precision, encoding.batch_size) == ("cuda:1", "bf16", 256)
    model = tiny_model(tmp_path / "tiny")
    assert precision_tag(model, "bf16") == ""  # on a CPU: fp32 whatever is asked, the same cache entry
    assert precision_tag(model, "bf16", ["cuda:0", "cuda:1"]) == "-bf16"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch sees no CUDA device"):
            load_model(str(tmp_path / "tiny"), "cuda")
