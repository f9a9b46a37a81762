"""What `make run` leaves in the local registry (CI runs `make run` before the tests): a champion whose source run
carries the held-out metrics, lineage and the logged model, loadable with the README's one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    if not (REPO / "mlflow.db").is_file() or not (REPO / "metrics" / "promotion.json").is_file():
        pytest.skip("no local registry yet: `make run` writes mlflow.db and metrics/promotion.json")
    from mlflow import MlflowClient

    uri = f"sqlite:///{REPO / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"}


def test_the_pipeline_leaves_a_champion_with_its_lineage(client):
    champion = client.get_model_version_by_alias("lrat-retriever", "champion")
    run = client.get_run(champion.run_id)
    for metric in ("eval.recall_at_10", "eval.ndcg_at_10", "agent_eval.success"):
        assert 0 < run.data.metrics[metric] <= 1
    assert run.data.tags["eval.split"] == "test" and len(run.data.tags["eval.benchmark_sha256"]) == 64
    tags = champion.tags
    assert len(tags["git.commit"]) == 40 and len(tags["labels.sha256"]) == 64 and len(tags["params.sha256"]) == 64
    assert {"dvc.runs_md5", "dvc.trajectories_md5", "dvc.labels_md5", "dvc.model_md5"} <= set(tags)
    assert tags["validation.status"] == "passed" and tags["validation_status"] == "approved"
    assert "recall@10" in champion.description
    promotion = client.get_run(tags["promotion.run_id"])
    assert promotion.data.tags["decision"] == "promoted"
    record = json.loads((REPO / "metrics" / "promotion.json").read_text())
    assert record["decision"] in ("promoted", "refused") and record["checks"]


def test_the_agent_evaluation_has_the_ceiling_row_and_the_calibrated_regime():
    """Issue 13's agent-level targets on what `make run` measured: base in the paper's success range, a perfect
    retriever clearly better, and the trained model's share of that gap reported."""
    path = REPO / "metrics" / "agent_eval.json"
    if not path.is_file():
        pytest.skip("no metrics/agent_eval.json yet: `make run` writes it")
    record = json.loads(path.read_text())
    rows = record["models"]
    assert list(rows) == ["base", "lrat", "oracle"] and record["n_questions"] == 240
    assert 0.35 <= rows["base"]["success"] <= 0.65
    assert rows["oracle"]["success"] >= 1.3 * rows["base"]["success"]
    gap = rows["oracle"]["success"] - rows["base"]["success"]
    expected = round((rows["lrat"]["success"] - rows["base"]["success"]) / gap, 4)
    assert record["ceiling"] == {"model": "oracle", "over": "base", "gap_closed": {"lrat": expected}}


def test_every_model_has_agent_query_metrics_from_the_held_out_runs_only():
    """Issue 31 on what `make run` measured: agent-query metrics for every evaluated model, replayed from the base
    agent's run files of the held-out questions only (kept as a DVC output), none of them missing."""
    path, runs = REPO / "metrics" / "eval.json", REPO / "data" / "eval" / "agent_runs" / "base"
    if not path.is_file() or not runs.is_dir():
        pytest.skip("no metrics/eval.json or data/eval/agent_runs yet: `make run` writes them")
    record = json.loads(path.read_text())
    summary = record["agent_queries"]
    assert summary["source"] == "data/eval/agent_runs/base"
    assert summary["n_questions"] == record["n_queries"] and summary["n_questions_without_queries"] == 0
    assert summary["trajectories_of_other_questions"] == 0 and summary["rejected"] == 0
    held_out = set(json.loads((REPO / "data" / "split" / "splits.json").read_text())["test"])
    assert {p.name.removeprefix("run_").removesuffix(".json") for p in runs.glob("run_*.json")} == held_out
    for name in ("base", "lrat"):
        assert set(record["models"][name]["agent_queries"]) == {"trajectory_recall@10", "trajectory_recall@100",
                                                                 "search_ndcg@10", "search_recall@10"}
    # replaying the base agent's own queries with the base model shows it what it saw: its evidence recall
    agent = json.loads((REPO / "metrics" / "agent_eval.json").read_text())["models"]["base"]
    assert record["models"]["base"]["agent_queries"]["trajectory_recall@10"] == pytest.approx(
        agent["evidence_recall"], abs=1e-3)


def test_the_champion_loads_with_one_line_and_evaluates(client, tmp_path: Path):
    line = 'mlflow.sentence_transformers.load_model("models:/lrat-retriever@champion")'
    code = f"import mlflow.sentence_transformers\nmodel = {line}\nprint(model.encode(['a ferry to the island']).shape)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "(1, 384)"
    assert line in (REPO / "README.md").read_text()

    out = tmp_path / "eval.json"
    done = subprocess.run(["lrat", "evaluate", "--model", "champion=models:/lrat-retriever@champion", "--no-agent",
                           "--out", str(out), "--quiet"], cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    scores = json.loads(out.read_text())["models"]["champion"]
    champion = client.get_model_version_by_alias("lrat-retriever", "champion")
    assert scores["recall@10"] == pytest.approx(client.get_run(champion.run_id).data.metrics["eval.recall_at_10"],
                                                abs=1e-4)


def _post(url: str, body: dict) -> dict:
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def test_make_run_ends_with_a_bento_that_lrat_serve_serves(client, tmp_path: Path):
    if not (REPO / "models" / "index" / "manifest.json").is_file():  # metrics/bento.json is in git; the index not
        pytest.skip("no index and bento yet: `make run` writes models/index and builds the bento")
    from lrat.serving.process import free_port, stop, wait_ready

    built = json.loads((REPO / "metrics" / "bento.json").read_text())
    champion = client.get_model_version_by_alias("lrat-retriever", "champion")
    manifest = json.loads((REPO / "models" / "index" / "manifest.json").read_text())
    assert (manifest["model"]["name"], manifest["model"]["version"]) == ("lrat-retriever", str(champion.version))
    assert built["served_model"] == {"name": "lrat-retriever", "version": str(champion.version)}

    port, log = free_port(), tmp_path / "serve.log"
    env = {**_env(), "BENTOML_HOME": str(REPO / ".bentoml")}  # the repository's store, where `make run` built it
    with log.open("w") as sink:
        proc = subprocess.Popen(["lrat", "serve", "--port", str(port)], cwd=REPO, env=env, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, 180, log)
        assert f"bento {built['bento']} serves lrat-retriever version {champion.version}" in log.read_text()
        served = {"name": "lrat-retriever", "version": str(champion.version)}
        one = _post(f"{url}/search", {"query": "a ferry to the island", "k": 5})
        assert one["model"] == served and [r["rank"] for r in one["results"]] == [1, 2, 3, 4, 5]
        batch = _post(f"{url}/search_batch", {"queries": ["a ferry to the island", "museum founder"], "k": 3})
        assert batch["model"] == served and batch["results"][0] == one["results"][:3]
        doc = _post(f"{url}/get_document", {"docid": one["results"][0]["docid"]})
        assert doc["docid"] == one["results"][0]["docid"] and doc["text"]
    finally:
        assert stop(proc) is not None
