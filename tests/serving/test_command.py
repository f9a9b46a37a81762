"""The serving commands' contract: `lrat index` options and manifest, and one-line errors with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lrat.cli import app

from .helpers import tiny_ref, write_corpus

runner = CliRunner()


def _params(tmp: Path, **index: object) -> Path:
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump({"retrieval": {"cache_dir": str(tmp / "cache")}, "index": index,
                                    "registry": {"name": "lrat-retriever"}}))
    return path


def test_index_a_model_folder(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    model = tiny_ref(tmp_path).path
    done = runner.invoke(app, ["index", "--model", model, "--corpus", str(corpus), "--out", str(tmp_path / "ix"),
                               "--params", str(_params(tmp_path, type="hnsw", hnsw_m=4)), "--quiet"])
    assert done.exit_code == 0, done.output
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    assert manifest["index"]["type"] == "hnsw" and manifest["model"]["path"] == model
    assert "IndexHNSWFlat" in done.output


@pytest.mark.parametrize(("args", "message"), [
    (["index", "--model", "models:/x"], "name a registry version"),
    (["index", "--model", "no/such/folder"], "not 'base', a Hugging Face id"),
    (["bento", "--index", "no/such/index"], "not an lrat index"),
    (["serve", "--model", "no/such/folder", "--build-only"], "not 'base', a Hugging Face id"),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str):
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    params = _params(tmp_path)
    extra = ["--corpus", str(corpus)] if args[0] == "index" else []
    done = runner.invoke(app, [*args, *extra, "--params", str(params)])
    assert done.exit_code == 2 and message in done.output and "Traceback" not in done.output


def test_bento_refuses_a_model_other_than_the_index_s_own(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    params = _params(tmp_path)
    built = runner.invoke(app, ["index", "--model", tiny_ref(tmp_path).path, "--corpus", str(corpus), "--out",
                                str(tmp_path / "ix"), "--params", str(params), "--quiet"])
    assert built.exit_code == 0, built.output
    other = tiny_ref(tmp_path, seed=1).path
    done = runner.invoke(app, ["bento", "--index", str(tmp_path / "ix"), "--model", other, "--params", str(params),
                               "--out", str(tmp_path / "bento.json")])
    assert done.exit_code == 2 and f"--model {other}: the index was built with" in done.output
    assert "only served with the model that encoded it" in done.output and not (tmp_path / "bento.json").exists()


def test_bad_index_settings_exit_2(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    done = runner.invoke(app, ["index", "--model", tiny_ref(tmp_path).path, "--corpus", str(corpus),
                               "--params", str(_params(tmp_path, typ="hnsw"))])
    assert done.exit_code == 2 and "index.typ: unknown key (did you mean 'type'?)" in done.output


@pytest.mark.slow
def test_without_a_champion_the_base_model_stands_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """As in the promotion gate: until something is promoted, the default model is train.base_model; naming the
    missing alias is still an error."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    params = _params(tmp_path)
    base = tiny_ref(tmp_path).path
    values = yaml.safe_load(params.read_text())
    params.write_text(yaml.safe_dump({**values, "train": {"base_model": base}}))
    done = runner.invoke(app, ["index", "--corpus", str(corpus), "--out", str(tmp_path / "ix"), "--params",
                               str(params), "--quiet"])
    assert done.exit_code == 0, done.output
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    assert manifest["model"]["spec"] == f"{base} (no @champion yet)" and manifest["model"]["path"] == base
    assert "(no @champion yet)" in done.output
    done = runner.invoke(app, ["index", "--model", "models:/lrat-retriever@champion", "--corpus", str(corpus),
                               "--params", str(params)])
    assert done.exit_code == 2 and "has no @champion" in done.output and "lrat promote" in done.output


def test_bento_outside_the_repository_says_where_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from lrat.serving.package import bentofile

    with pytest.raises(FileNotFoundError, match="from the lrat repository root"):
        bentofile(tmp_path)
