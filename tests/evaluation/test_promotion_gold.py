"""The promotion gate's evaluation keeps its evidence scores flat (what the gate and the flywheel read) and puts
the gold-qrels scores beside them, reported in reports/promotion.md and never gated on."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from lrat.evaluation.offline import METRICS

from .test_offline import Setup


def _pair(setup: Setup, world: Path, tmp_path: Path) -> dict:
    from lrat.registry.promotion import Settings, evaluate_pair
    from lrat.settings import load_settings

    params = tmp_path / "none.yaml"
    settings = Settings.from_settings(load_settings(params), params, world)
    settings = dataclasses.replace(settings, cache_dir=setup.cache,
                                   gate=settings.gate.model_copy(update={"agent": False}))
    return evaluate_pair("base", str(setup.small), settings, progress=False)


def _record(evaluation: dict) -> dict:
    from lrat.registry.gate import GateConfig
    from lrat.registry.promotion import gate_checks

    checks = gate_checks(evaluation, False, None, GateConfig())
    return {"registry": {"name": "lrat-retriever", "tracking_uri": "sqlite:///mlflow.db"}, "time": "now",
            "decision": "refused", "candidate": {"version": "2", "uri": "models:/lrat-retriever/2", "spec": "x"},
            "champion": {"version": None, "spec": "base"}, "evaluation": evaluation,
            "checks": [c.as_dict() for c in checks]}


def test_gold_rows_beside_the_gated_scores(setup: Setup, tmp_path: Path) -> None:
    from lrat.registry.record import render

    evaluation = _pair(setup, setup.world_dir, tmp_path)
    offline, gold = evaluation["offline"], evaluation["offline_gold"]
    assert list(offline["current"]) == list(offline["candidate"]) == list(offline["p_values"]) == list(METRICS)
    assert gold["n_queries"] > 0
    assert list(gold["current"]) == list(gold["candidate"]) == list(gold["p_values"]) == list(METRICS)
    assert gold["candidate"]["recall@10"] < gold["current"]["recall@10"]  # the small model is worse there too
    report = render(_record(evaluation))
    assert f"## Offline scores on the gold qrels ({gold['n_queries']} questions; not gated on)" in report
    section = report.split("on the gold qrels")[1]
    for metric in METRICS:
        assert f"| {metric} | {gold['current'][metric]:.4f} | {gold['candidate'][metric]:.4f} |" in section
    assert "gold" not in " ".join(c["name"] for c in _record(evaluation)["checks"])


def test_no_gold_rows_without_gold_qrels(setup: Setup, tmp_path: Path) -> None:
    from lrat.registry.record import render

    bare = tmp_path / "world"
    shutil.copytree(setup.world_dir, bare, ignore=shutil.ignore_patterns("qrel_golds.txt"))
    evaluation = _pair(setup, bare, tmp_path)
    assert evaluation["offline_gold"] is None and list(evaluation["offline"]["current"]) == list(METRICS)
    report = render(_record(evaluation))
    assert "## Offline scores" in report and "gold qrels" not in report


@pytest.mark.parametrize("gold", [True, False])
def test_the_decision_run_logs_gold_scores_beside(gold: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """log_decision's metrics: current.gold.recall_at_10 etc. when there are gold rows."""
    import mlflow

    from lrat.registry import record as record_module

    logged: dict[str, float] = {}
    monkeypatch.setattr(mlflow, "log_metrics", logged.update)
    for name in ("log_params", "log_dict", "log_text"):
        monkeypatch.setattr(mlflow, name, lambda *a, **k: None)
    monkeypatch.setattr(record_module, "render", lambda record: "")  # the report has tests of its own above
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    scores = {m: 0.5 for m in METRICS}
    evaluation = {"offline": {"current": scores, "candidate": scores, "p_values": {}},
                  "offline_gold": {"n_queries": 3, "current": scores, "candidate": scores, "p_values": {}}
                  if gold else None}
    record = {"decision": "refused", "candidate": {"version": "1", "spec": "x"}, "champion": {"spec": "base"},
              "evaluation": evaluation, "checks": []}

    class Registry:
        name = "r"

    record_module.log_decision(record, "promotion-test", Registry(), tmp_path)
    assert ("current.gold.recall_at_10" in logged) is gold and "candidate.recall_at_1000" in logged
    assert all("@" not in key for key in logged)
