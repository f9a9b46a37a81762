"""`lrat register` / `lrat promote` end to end through the CLI: a fresh paired evaluation on a small simulated
world decides; better candidates are promoted, worse ones refused with the registry unchanged, and rollback
restores the previous champion. Once on the local SQLite store and once through a real `mlflow server` process.

Models, from worst to best retriever: a random tiny BERT (the stand-in for `train.base_model`), a 2-layer cut
of the packaged MiniLM, and the MiniLM itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import lrat_cli as _lrat
from .helpers import project_params as _project
from .helpers import training_run
from .server import mlflow_server

pytestmark = pytest.mark.slow
NAME = "lrat-retriever"


def _decision(root: Path) -> dict:
    return json.loads((root / "metrics" / "promotion.json").read_text())


def lifecycle(root: Path, assets: dict[str, Path]) -> None:
    from sentence_transformers import SentenceTransformer

    from lrat.registry.store import Registry
    from lrat.retrieval.encoder import model_path

    _project(root, assets)
    world = ["--world", str(assets["world"]), "--quiet"]
    registry = Registry(NAME)

    # 1. the first champion must beat the base model (here: the random tiny one)
    small, _ = training_run(root, "small", model=SentenceTransformer(str(assets["small"]), device="cpu"))
    code, out = _lrat("register", "--model-dir", str(small))
    assert code == 0, out
    assert registry.aliases() == {"challenger": "1"}
    code, out = _lrat("promote", *world)
    assert code == 0, out
    assert "PROMOTED version 1" in out
    assert registry.aliases() == {"challenger": "1", "champion": "1"}
    record = _decision(root)
    assert record["decision"] == "promoted" and record["champion"]["version"] is None
    assert {c["name"] for c in record["checks"]} >= {"recall_at_10_gain", "recall_at_10_significance",
                                                      "label_validation", "agent_success", "agent_searches"}
    assert all(c["passed"] is not False for c in record["checks"])
    assert record["evaluation"]["offline"]["candidate"]["recall@10"] > record["evaluation"]["offline"]["current"][
        "recall@10"]
    assert record["evaluation"]["agent"]["n_questions"] > 0
    assert "# Promotion: PROMOTED" in (root / "reports" / "promotion.md").read_text()
    run_id = registry.get("1").tags["promotion.run_id"]
    assert registry.client.get_run(run_id).data.tags["decision"] == "promoted" == record["decision"]
    assert record["promotion_run_id"] == run_id

    # 2. nothing to decide when the challenger already is the champion (CI re-runs the gate after `dvc repro`)
    code, out = _lrat("promote", *world)
    assert code == 0 and "already is @champion" in out

    # 3. a better model replaces it; the old champion becomes @previous
    good, _ = training_run(root, "good", model=SentenceTransformer(model_path("base"), device="cpu"))
    assert _lrat("register", "--model-dir", str(good))[0] == 0
    code, out = _lrat("promote", *world)
    assert code == 0, out
    assert registry.aliases() == {"challenger": "2", "champion": "2", "previous": "1"}

    # 4. worse or equal candidates are refused; every failing check is printed; nothing in the registry moves
    for worse, failing in ((str(assets["tiny"]), "recall_at_10_gain"), ("base", "recall_at_10_gain")):
        code, out = _lrat("promote", "--candidate", worse, *world)
        assert code == 1, out
        assert f"FAILED {failing}" in out and "REFUSED" in out
        assert registry.aliases() == {"challenger": "2", "champion": "2", "previous": "1"}
        assert _decision(root)["decision"] == "refused"
    assert "**FAIL**" in (root / "reports" / "promotion.md").read_text()
    code, out = _lrat("promote", "--candidate", str(assets["tiny"]), "--allow-refusal", *world)
    assert code == 0 and "REFUSED" in out

    # 5. rollback restores the previous champion, once; then there is nothing left to roll back to
    code, out = _lrat("promote", "--rollback")
    assert code == 0, out
    assert registry.aliases() == {"champion": "1"}
    assert _decision(root)["decision"] == "rolled_back"
    code, out = _lrat("promote", "--rollback")
    assert code == 1 and "nothing to roll back to" in out
    decisions = registry.client.search_runs(
        [registry.client.get_experiment_by_name("lrat-promotion").experiment_id])
    assert sorted(r.data.tags["decision"] for r in decisions) == ["promoted", "promoted", "refused", "refused",
                                                                   "refused", "rolled_back"]
    # registered versions load through MLflow, yet every weight set encoded the corpus once: tiny, the 2-layer
    # cut, and the MiniLM (the `good` run and `base` hold the same weights)
    assert len(list(assets["cache"].glob("*.npy"))) == 3


def test_lifecycle_on_the_local_store(tmp_path: Path, assets: dict[str, Path], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    lifecycle(tmp_path, assets)
    assert (tmp_path / "mlflow.db").is_file()

    # a candidate whose labels failed validation is refused, however good it is
    from sentence_transformers import SentenceTransformer

    from lrat.retrieval.encoder import model_path

    bad, _ = training_run(tmp_path, "unvalidated", validation="failed",
                          model=SentenceTransformer(model_path("base"), device="cpu"))
    assert _lrat("register", "--model-dir", str(bad))[0] == 0
    code, out = _lrat("promote", "--world", str(assets["world"]), "--quiet")
    assert code == 1 and "FAILED label_validation: observed failed" in out
    checks = {c["name"]: c["passed"] for c in _decision(tmp_path)["checks"]}
    assert checks["recall_at_10_gain"] is True and checks["label_validation"] is False


def test_lifecycle_through_a_tracking_server(tmp_path: Path, assets: dict[str, Path],
                                             monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    with mlflow_server(tmp_path / "server") as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        lifecycle(tmp_path, assets)
        record = _decision(tmp_path)
        assert record["registry"]["tracking_uri"] == url
    assert not (tmp_path / "mlflow.db").exists()  # everything went to the server's store
    assert (tmp_path / "server" / "server.db").is_file()
