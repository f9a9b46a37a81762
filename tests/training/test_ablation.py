"""The ablation's variants differ from the lrat run only in what the paper switches off; the plot is written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lrat.training.ablation import draw, variants
from lrat.training.train import train_config


def test_naive_and_filter_switch_off_only_the_judge_and_the_weights():
    cfg = train_config({"lr": 1e-5, "max_rows": 100, "n_negatives": 2, "experiment": "x"})
    out = variants(cfg)
    assert set(out) == {"naive", "filter"}
    for variant in out.values():
        assert variant.loss == "mnrl" and variant.data.weights is False and variant.experiment == "x-ablation"
        same = {k: v for k, v in dataclasses.asdict(variant).items() if k not in ("loss", "experiment", "data")}
        assert same == {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("loss", "experiment", "data")}
        assert (variant.data.max_rows, variant.data.n_negatives) == (100, 2)
    assert out["naive"].data.rows == "all" and out["filter"].data.rows == "satisfied"


def test_the_plot_is_a_png(tmp_path: Path):
    scores = {"recall@10": 0.4, "recall@100": 0.6, "ndcg@10": 0.35, "mrr@10": 0.5}
    draw({"n_queries": 10, "models": {n: scores for n in ("base", "naive", "filter", "lrat")}}, tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
