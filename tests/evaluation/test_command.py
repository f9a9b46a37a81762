"""`lrat evaluate`'s link back to the training runs in MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_evaluate_adds_scores_to_the_training_run_and_survives_a_foreign_model(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch):
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
    scores = {"recall@10": 0.6, "ndcg@10": 0.5}
    log_to_training_runs({"lrat": str(ours), "other": str(foreign), "base": "base"},
                         {"models": {"lrat": scores, "other": scores, "base": scores}},
                         {"models": {"lrat": {"success": 0.8}, "other": {"success": 0.7}, "base": {"success": 0.7}}})
    logged = mlflow.get_run(run.info.run_id).data.metrics
    assert logged == {"eval.recall_at_10": 0.6, "eval.ndcg_at_10": 0.5, "agent_eval.success": 0.8}
