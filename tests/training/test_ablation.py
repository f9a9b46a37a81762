"""The ablation's variants differ from the lrat run only in what the paper switches off; they train the same as
parallel jobs; the plot is written."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from lrat.benchmark import Benchmark
from lrat.settings import settings_from
from lrat.training.ablation import draw, train_variants, variants

from .tiny import tiny_model


def test_naive_and_filter_switch_off_only_the_judge_and_the_weights():
    cfg = settings_from({"train": {"lr": 1e-5, "max_rows": 100, "n_negatives": 2, "experiment": "x"}}).train
    out = variants(cfg)
    assert set(out) == {"naive", "filter"}
    switched = ("loss", "experiment", "weights", "rows")
    for variant in out.values():
        assert variant.loss == "mnrl" and variant.weights is False and variant.experiment == "x-ablation"
        same = {k: v for k, v in variant.model_dump().items() if k not in switched}
        assert same == {k: v for k, v in cfg.model_dump().items() if k not in switched}
        assert (variant.max_rows, variant.n_negatives) == (100, 2)
    assert out["naive"].rows == "all" and out["filter"].rows == "satisfied"


def test_the_plot_is_a_png(tmp_path: Path):
    scores = {"recall@10": 0.4, "recall@100": 0.6, "ndcg@10": 0.35, "mrr@10": 0.5}
    draw({"n_queries": 10, "models": {n: scores for n in ("base", "naive", "filter", "lrat")}}, tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_variants_trained_as_parallel_jobs_match_one_after_the_other(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch):
    """Two jobs (spawned processes, a thread each) give the models and cached corpus vectors one process gives,
    each variant in its own MLflow run; the evaluation afterwards finds every corpus vector in the cache."""
    import mlflow
    import numpy as np

    from lrat.retrieval.encoder import corpus_embeddings, fingerprint, load_model
    from lrat.retrieval.local import read_corpus

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rng = random.Random(0)
    words = "island ferry harbour town boat mainland museum academy founder scholar records lighthouse".split()
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"docid": f"d{i}", "text": " ".join(rng.choices(words, k=10))}) + "\n"
                              for i in range(40)))
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"trajectory_id": f"t{i}", "query": " ".join(rng.choices(words, k=4)),
                                          "pos": " ".join(rng.choices(words, k=10)), "negs": [f"n{i}"],
                                          "neg_ids": [f"n{i}"], "satisfied": i % 3 != 0, "weight": 1.0,
                                          "reasoning_len": 10}) + "\n" for i in range(24)))
    tiny_model(tmp_path / "tiny")
    cfg = settings_from({"train": {"base_model": str(tmp_path / "tiny"), "batch_size": 4, "max_seq_length": 32,
                        "n_negatives": 1, "save_steps": 100, "experiment": "t"}}).train
    bench = Benchmark(corpus, tmp_path / "q.tsv", tmp_path / "qrels.txt", tmp_path / "splits.json")
    todo = {name: (labels, variant) for name, variant in variants(cfg).items()}
    vectors = {}
    for jobs in (1, 2):
        retrieval = settings_from({"retrieval": {"cache_dir": str(tmp_path / f"cache{jobs}")}}).retrieval
        summaries = train_variants(todo, tmp_path / f"models{jobs}", corpus, bench, retrieval, jobs, progress=False)
        assert set(summaries) == {"naive", "filter"}
        cached = sorted((tmp_path / f"cache{jobs}").glob("*.npy"))
        assert len(cached) == 2  # one corpus encoding per variant, nothing else
        for name, summary in summaries.items():
            run = mlflow.get_run(summary["run_id"])
            assert run.data.tags["ablation"] == name and run.info.status == "FINISHED"
            model = load_model(str(tmp_path / f"models{jobs}" / name))
            assert any(path.name.startswith(fingerprint(model)) for path in cached)
            vectors[jobs, name] = corpus_embeddings(model, read_corpus(corpus)[1], tmp_path / f"cache{jobs}")
    for name in ("naive", "filter"):
        np.testing.assert_allclose(vectors[1, name], vectors[2, name], atol=1e-5)
    assert not np.allclose(vectors[1, "naive"], vectors[1, "filter"])  # the two variants are different models
