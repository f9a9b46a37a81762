"""`lrat experiment alignment`: rank correlations and the rule by hand, the variants' names, and a whole study on a
small world with 8 retrievers of varied quality (the packaged MiniLM cut to 1..6 layers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lrat.experiments.alignment import alignment_table, parse_variant, rule_outcome, variant_name


def _models(success, searches, question, agent_query):
    return {f"m{i}": {"offline": {"recall@10": q}, "agent_queries": {"search_ndcg@10": a},
                      "agent": {"success": s, "avg_search_calls": n}}
            for i, (s, n, q, a) in enumerate(zip(success, searches, question, agent_query, strict=True))}


def test_a_metric_in_the_agents_order_has_tau_one():
    models = _models(success=[0.5, 0.6, 0.7, 0.8], searches=[30, 25, 20, 15],
                     question=[0.4, 0.3, 0.2, 0.1], agent_query=[0.1, 0.2, 0.3, 0.4])
    table = alignment_table(models)
    assert table["search_ndcg@10"]["kendall_tau"] == pytest.approx(1.0)
    assert table["search_ndcg@10"]["kendall_tau_vs_searches"] == pytest.approx(-1.0)
    assert table["recall@10"]["kendall_tau"] == pytest.approx(-1.0)
    assert table["recall@10"]["kind"] == "question" and table["search_ndcg@10"]["kind"] == "agent_query"
    decision = rule_outcome(table)
    assert decision["best_agent_query"] == "search_ndcg@10" and decision["agent_query_higher"] is True


def test_a_constant_metric_has_no_tau_and_never_wins():
    models = _models(success=[0.5, 0.6, 0.7, 0.8], searches=[30, 25, 20, 15],
                     question=[0.1, 0.2, 0.3, 0.4], agent_query=[0.3, 0.3, 0.3, 0.3])
    table = alignment_table(models)
    assert table["search_ndcg@10"]["kendall_tau"] is None
    decision = rule_outcome(table)
    assert decision["best_agent_query"] is None and decision["agent_query_higher"] is False


def test_variants_parse_as_train_overrides():
    assert parse_variant("max_rows=120,lr=1e-4") == {"max_rows": 120, "lr": 1e-4}
    assert variant_name({"max_rows": 120}) == "lrat-maxrows120"
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_variant("max_rows")


def test_a_bad_variant_fails_naming_the_key():
    from lrat.experiments.alignment import variant_config
    from lrat.settings import Train

    assert variant_config(Train(), {"max_rows": 120}).max_rows == 120
    with pytest.raises(ValueError, match="max_rowz"):
        variant_config(Train(), {"max_rowz": 120})
    with pytest.raises(ValueError, match="lr"):
        variant_config(Train(), {"lr": "fast"})


@pytest.mark.slow
def test_a_whole_study_on_a_small_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from typer.testing import CliRunner

    from lrat.cli import app
    from lrat.retrieval.encoder import model_path
    from lrat.simulate.export import write_world
    from lrat.simulate.store import save_state
    from lrat.simulate.world import generate_world

    monkeypatch.chdir(tmp_path)  # no models/lrat, models/ablation or data/flywheel here: only the --model ones
    world = generate_world(5, n_docs=300, n_questions=60)
    write_world(world, tmp_path / "world")
    save_state(world, tmp_path / "world")
    args = []
    for layers in range(1, 7):  # fewer layers: a worse retriever (varied quality, all real models)
        model = SentenceTransformer(model_path("base"), device="cpu")
        bert = model[0].auto_model
        bert.encoder.layer = torch.nn.ModuleList(list(bert.encoder.layer)[:layers])
        bert.config.num_hidden_layers = layers
        model.max_seq_length = 64
        model.save(str(tmp_path / f"cut{layers}"))
        args += ["--model", f"cut{layers}={tmp_path / f'cut{layers}'}"]
    (tmp_path / "params.yaml").write_text(f"retrieval:\n  cache_dir: {tmp_path / 'cache'}\n", encoding="utf-8")
    out, plot = tmp_path / "alignment.json", tmp_path / "alignment.png"
    runner = CliRunner()
    few = runner.invoke(app, ["experiment", "alignment", "--world", str(tmp_path / "world"), *args[:4],
                              "--variant", "", "--params", str(tmp_path / "params.yaml"), "--out", str(out), "-q"])
    assert few.exit_code == 2 and "at least 8" in few.output
    result = runner.invoke(app, ["experiment", "alignment", "--world", str(tmp_path / "world"), *args,
                                 "--model", "again=base", "--variant", "", "--params", str(tmp_path / "params.yaml"),
                                 "--out", str(out), "--plot", str(plot), "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert len(report["models"]) == 8 and plot.stat().st_size > 10_000
    assert set(report["alignment"]) >= {"recall@10", "ndcg@10", "trajectory_recall@10", "search_ndcg@10"}
    success = [row["agent"]["success"] for row in report["models"].values()]
    assert len(set(success)) > 2  # the retrievers differ where the agent is concerned
    tau = report["alignment"]["trajectory_recall@10"]["kendall_tau"]
    assert tau is not None and -1.0 <= tau <= 1.0
    assert report["decision"]["current_primary"] == "recall@10"
    assert report["logged_queries"]["n_questions"] == report["n_questions"]
