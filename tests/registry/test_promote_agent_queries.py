"""The gate on agent-query metrics: `promote.primary` naming one, the logged queries read from where the pipeline
keeps them (data/eval/agent_runs/base), both kinds of scores in the report, and a clear error without them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .helpers import lrat_cli as _lrat
from .helpers import project_params as _project

pytestmark = pytest.mark.slow


def test_the_gate_may_read_an_agent_query_metric(tmp_path: Path, assets: dict[str, Path],
                                                 monkeypatch: pytest.MonkeyPatch):
    from lrat.evaluation.agent import evaluate_agents
    from lrat.simulate.agent import AgentConfig

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _project(tmp_path, assets)
    params = tmp_path / "params.yaml"
    params.write_text(params.read_text() + "  primary: search_ndcg@10\n  no_regression: [recall@10, "
                      "trajectory_recall@10]\n")
    # the logged queries: the agent with the (tiny) base model on the held-out questions, where evaluate keeps them
    evaluate_agents({"base": str(assets["tiny"])}, assets["world"], "test", 13, AgentConfig(), assets["cache"],
                    tmp_path / "data" / "eval" / "agent_runs", progress=False)
    args = ["promote", "--dry-run", "--candidate", str(assets["small"]), "--world", str(assets["world"]), "--quiet"]
    code, out = _lrat(*args)
    assert code == 0, out
    record = json.loads((tmp_path / "metrics" / "promotion.json").read_text())
    queries = record["evaluation"]["agent_queries"]
    assert queries["source"] == "data/eval/agent_runs/base" and queries["n_questions"] > 0
    assert queries["candidate"]["search_ndcg@10"] > queries["current"]["search_ndcg@10"]
    checks = {c["name"]: c for c in record["checks"]}
    assert checks["search_ndcg_at_10_gain"]["passed"] and checks["search_ndcg_at_10_significance"]["passed"]
    assert "trajectory_recall_at_10_no_regression" in checks and "recall_at_10_gain" not in checks
    report = (tmp_path / "reports" / "promotion.md").read_text()
    assert "## Offline scores" in report and "## Agent-query scores" in report

    # without logged queries the gate reads promote.fallback_primary (recall@10 by default), and says so
    shutil.rmtree(tmp_path / "data" / "eval" / "agent_runs")
    code, out = _lrat(*args)
    assert code == 0, out
    record = json.loads((tmp_path / "metrics" / "promotion.json").read_text())
    checks = {c["name"]: c for c in record["checks"]}
    assert checks["primary_metric"]["observed"] == "recall@10" and "no logged queries" in checks[
        "primary_metric"]["detail"]
    assert checks["recall_at_10_gain"]["passed"] and record["evaluation"]["agent_queries"] is None
    # ... and with fallback_primary null, an unmeasurable primary is an error
    params.write_text(params.read_text() + "  fallback_primary: null\n")
    code, out = _lrat(*args)
    assert code == 2 and "search_ndcg@10" in out and "no logged queries" in out
