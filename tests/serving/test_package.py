"""`lrat bento`'s packaging: a BentoML model and a bento keyed by what they are made of, reused when nothing
changed, rebuilt when the model, limits or code change; and `lrat serve` finding a current bento without loading
a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lrat.serving.bundle import Inputs, ensure_bento, package
from lrat.serving.index import IndexMismatch, build_index
from lrat.serving.package import bento_models, code_digest, import_model
from lrat.serving.settings import IndexSettings, ServeArgs

from ..conftest import REPO
from .helpers import tiny_ref, write_corpus


def _inputs(tmp: Path, corpus: Path, **serve: int) -> Inputs:
    return Inputs(root=REPO, registry="lrat-retriever", corpus=corpus, queries=None, index=IndexSettings(),
                  serve=ServeArgs(**serve), cache_dir=tmp / "cache")


@pytest.mark.slow
def test_packaging_is_reused_until_something_changes(tmp_path: Path):
    import bentoml

    corpus = write_corpus(tmp_path / "corpus.jsonl")
    ref = tiny_ref(tmp_path)
    build_index(ref, corpus, tmp_path / "index", IndexSettings(), cache_dir=tmp_path / "cache", progress=False)
    first = package(tmp_path / "index", _inputs(tmp_path, corpus))
    assert first["bento_created"] and first["bentoml_model_created"]
    assert first["served_model"] == {"name": ref.name, "version": ref.source_key}
    bento = bentoml.bentos.get(first["bento"])
    assert bento.info.args["model"] == first["bentoml_model"] and bento.info.args["max_k"] == 100
    assert bento_models(bento) == {first["bentoml_model"]}
    stored = Path(bentoml.models.get(first["bentoml_model"]).path)
    assert {p.name for p in stored.iterdir()} >= {"encoder", "index", "documents.jsonl"}
    assert json.loads(bentoml.models.get(first["bentoml_model"]).info.metadata["manifest"])["model"][
        "fingerprint"] == first["fingerprint"]

    again = package(tmp_path / "index", _inputs(tmp_path, corpus))
    assert (again["bento"], again["bento_created"], again["bentoml_model_created"]) == (first["bento"], False, False)
    found = ensure_bento(str(ref.path), _inputs(tmp_path, corpus))  # `lrat serve`: found without building
    assert found["bento"] == first["bento"] and not found["bento_created"]

    limits = package(tmp_path / "index", _inputs(tmp_path, corpus, max_k=20))
    assert limits["bento_created"] and limits["bento"] != first["bento"]
    assert limits["bentoml_model"] == first["bentoml_model"]  # same model, new limits: only a new bento
    assert bentoml.bentos.get(limits["bento"]).info.args["max_k"] == 20

    # another model in the same process (the flywheel's next champion): its bento serves that model
    other = tiny_ref(tmp_path, seed=1)
    build_index(other, corpus, tmp_path / "other", IndexSettings(), cache_dir=tmp_path / "cache", progress=False)
    second = package(tmp_path / "other", _inputs(tmp_path, corpus))
    assert second["bentoml_model"] != first["bentoml_model"]
    assert bento_models(bentoml.bentos.get(second["bento"])) == {second["bentoml_model"]}


@pytest.mark.slow
def test_import_refuses_another_model_or_corpus(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    build_index(tiny_ref(tmp_path), corpus, tmp_path / "index", IndexSettings(), progress=False)
    with pytest.raises(IndexMismatch, match="only served with the model that encoded it"):
        import_model(tmp_path / "index", model=tiny_ref(tmp_path, seed=1).path)
    changed = write_corpus(tmp_path / "other.jsonl", seed=5)
    with pytest.raises(IndexMismatch, match="not the corpus"):
        import_model(tmp_path / "index", corpus=changed)


def test_code_digest_follows_the_service_code(tmp_path: Path):
    src = tmp_path / "src"
    (src / "lrat" / "serving").mkdir(parents=True)
    (src / "lrat" / "serving" / "service.py").write_text("A = 1\n")
    (src / "lrat" / "cli.py").write_text("B = 1\n")
    before = code_digest(src)
    (src / "lrat" / "cli.py").write_text("B = 2\n")  # not in the service's code
    assert code_digest(src) == before
    (src / "lrat" / "serving" / "service.py").write_text("A = 2\n")
    assert code_digest(src) != before
