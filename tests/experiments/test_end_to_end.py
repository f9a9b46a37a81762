"""Both experiments through the CLI on a small simulated world with a tiny model, as a user runs them after
`make run`: the scaling curve's points are nested and scored on the same questions, the registry's @champion is
found, and the two experiments agree where they measure the same thing (k = 10, same seed, same models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrat.cli import app
from tests.training.tiny import tiny_model

from .conftest import Sim

pytestmark = pytest.mark.slow
PIPELINE_CAP = 16  # train.max_rows of the project: the scaling experiment must not apply it


def _run(*args: str) -> dict:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def test_scaling_then_topk_on_the_champion(sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import mlflow

    from lrat.registry.store import Registry

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tiny_model(tmp_path / "tiny")
    (tmp_path / "params.yaml").write_text(
        "seed: 3\nretrieval:\n  cache_dir: cache\n"
        f"train:\n  base_model: tiny\n  batch_size: 8\n  max_seq_length: 32\n  max_rows: {PIPELINE_CAP}\n"
        "mine:\n  judge: heuristic\n  judge_cache: null\nagent: {}\n"
        "experiment:\n  scaling:\n    fractions: [0.25, 0.5, 1.0]\n  topk:\n    k: [3, 10]\n")

    # scaling --------------------------------------------------------------------------------------------------
    _run("experiment", "scaling", "--trajectories", str(sim.trajectories), "--world", str(sim.world), "--quiet")
    scaling = json.loads(Path("metrics/scaling.json").read_text())
    assert Path("reports/scaling.png").read_bytes()[:4] == b"\x89PNG"
    points = scaling["points"]
    assert [p["name"] for p in points] == ["base", "frac-0.25", "frac-0.5", "frac-1"]
    counts = [p["trajectories"] for p in points]
    assert counts == sorted(set(counts)) and counts[0] == 0 and counts[-1] == sim.n_train
    assert [p["label_rows"] for p in points] == sorted(p["label_rows"] for p in points)
    ids = [set(Path(f"models/experiments/scaling/{p['name']}/trajectory_ids.txt").read_text().split())
           for p in points[1:]]
    assert ids[0] < ids[1] < ids[2]
    assert scaling["train"]["max_rows"] is None and max(p["train_rows"] for p in points) > PIPELINE_CAP
    assert scaling["agent"]["evaluated"] and scaling["agent"]["n_questions"] == scaling["n_queries"] > 0
    for p in points:
        assert 0.0 <= p["offline"]["recall@10"] <= 1.0 and 0.0 <= p["agent"]["success"] <= 1.0
    # every point one MLflow run in lrat-scaling, carrying the numbers of the report
    runs = {r.info.run_id: r for r in mlflow.search_runs(experiment_names=["lrat-scaling"], output_format="list")}
    assert set(runs) == set(scaling["mlflow"]["runs"].values()) and len(runs) == 4
    for p in points:
        run = runs[p["run_id"]]
        assert run.data.tags["scaling.fraction"] == f"{p['fraction']:g}"
        assert run.data.metrics["scaling.recall_at_10"] == p["offline"]["recall@10"]
        assert run.data.metrics["scaling.agent.success"] == p["agent"]["success"]
    # every model encoded the corpus once: the tiny base and three trained models
    assert len(list(Path("cache").glob("*.npy"))) == 4

    # topk on the registry's champion (the largest subset's model) -------------------------------------------
    largest = points[-1]
    registry = Registry("lrat-retriever")
    version, _ = registry.register(f"runs:/{largest['run_id']}/model", largest["run_id"], {}, "")
    registry.set_alias("champion", version.version)
    _run("experiment", "topk", "--world", str(sim.world), "--quiet")
    topk = json.loads(Path("metrics/topk.json").read_text())
    assert Path("reports/topk.png").read_bytes()[:4] == b"\x89PNG"
    assert topk["mode"] == "agent" and topk["ks"] == [3, 10] == [r["k"] for r in topk["results"]]
    assert topk["models"]["champion"]["version"] == version.version
    assert topk["questions_sha256"] == scaling["questions_sha256"]
    for r in topk["results"]:
        assert r["agent"]["n_questions"] == topk["n_questions"] == scaling["n_queries"]
        assert set(r["agent"]["base"]) == set(r["agent"]["champion"]) == {"success", "evidence_recall",
                                                                          "avg_search_calls", "avg_browse_calls"}
    assert len(mlflow.search_runs(experiment_names=["lrat-topk"], output_format="list")) == 2
    # where both experiments measure the same thing (k = 10, same seed, same questions) they agree exactly
    at_10 = topk["results"][1]
    assert at_10["agent"]["base"] == points[0]["agent"] and at_10["agent"]["champion"] == largest["agent"]
    assert at_10["offline"]["base"] == points[0]["offline"]["recall@10"]
    assert at_10["offline"]["champion"] == largest["offline"]["recall@10"]
    assert len(list(Path("cache").glob("*.npy"))) == 4  # the registered champion reused its vectors

    # the same comparison on a benchmark with no simulator (real logs): offline only, the same offline numbers
    _run("experiment", "topk", "--world", str(sim.benchmark), "--model", largest["model"], "--out", "real.json",
         "--plot", "real.png", "--quiet")
    real = json.loads(Path("real.json").read_text())
    assert real["mode"] == "offline" and "simulation.json" in real["agent_skipped"]
    assert [r["offline"] for r in real["results"]] == [r["offline"] for r in topk["results"]]
    assert all(r["agent"] is None for r in real["results"]) and Path("real.png").is_file()
