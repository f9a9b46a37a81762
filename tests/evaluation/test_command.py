"""`lrat evaluate`'s link back to the training runs in MLflow: only the pipeline's own held-out evaluation writes
a run's canonical numbers; any other evaluation is recorded under a name that says what it scored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_only_the_canonical_evaluation_writes_a_runs_eval_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import mlflow

    from lrat.evaluation.command import log_to_training_runs

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'm.db'}")
    mlflow.set_experiment("scores")  # not the experiment another test left active in this process
    with mlflow.start_run() as run:
        pass
    ours, foreign = tmp_path / "ours", tmp_path / "foreign"
    for folder, run_id in ((ours, run.info.run_id), (foreign, "0" * 32)):
        folder.mkdir()
        (folder / "lrat_train.json").write_text(json.dumps({"run_id": run_id}))
    models = {"lrat": str(ours), "other": str(foreign), "base": "base"}
    held_out = {"benchmark": "world", "benchmark_sha256": "a" * 64, "split": "test", "n_queries": 240,
                "agent_seed": 13}
    scores = {"recall@10": 0.6, "ndcg@10": 0.5, "gold": {"recall@10": 0.4, "recall@1000": 0.9}}
    log_to_training_runs(models, {"split": "test", "models": {"lrat": scores, "other": scores, "base": scores}},
                         {"models": {"lrat": {"success": 0.8}, "other": {"success": 0.7}, "base": {"success": 0.7}}},
                         held_out, canonical=True)
    logged = mlflow.get_run(run.info.run_id).data
    assert logged.metrics == {"eval.recall_at_10": 0.6, "eval.ndcg_at_10": 0.5, "eval.gold.recall_at_10": 0.4,
                              "eval.gold.recall_at_1000": 0.9, "agent_eval.success": 0.8}
    assert logged.tags["eval.benchmark_sha256"] == "a" * 64 and logged.tags["eval.split"] == "test"
    assert logged.tags["eval.n_queries"] == "240"

    # the same model scored on another benchmark: recorded beside, never over, the canonical numbers
    elsewhere = {"benchmark": "my bench", "benchmark_sha256": "b" * 64, "split": "dev", "n_queries": 50}
    log_to_training_runs({"lrat": str(ours)}, {"split": "dev", "models": {"lrat": {"recall@10": 0.1,
                                                                                  "gold": {"recall@5": 0.3}}}},
                         {"models": {"lrat": {"success": 0.2}}}, elsewhere)
    logged = mlflow.get_run(run.info.run_id).data
    assert logged.metrics["eval.recall_at_10"] == 0.6 and logged.metrics["agent_eval.success"] == 0.8
    assert logged.metrics["other_eval.my_bench-bbbbbbbb.dev.recall_at_10"] == 0.1
    assert logged.metrics["other_eval.my_bench-bbbbbbbb.dev.agent.success"] == 0.2
    assert logged.metrics["other_eval.my_bench-bbbbbbbb.dev.gold.recall_at_5"] == 0.3
    assert logged.tags["eval.benchmark_sha256"] == "a" * 64
