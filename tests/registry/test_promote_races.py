"""No lost or stale promotions, and dry runs that change nothing.

- `lrat promote --dry-run` decides like `lrat promote` and writes its report and record, while aliases, versions,
  tags, registered models and runs stay exactly as they were.
- A champion moved by someone else between the evaluation and the alias moves is noticed (the candidate is judged
  again against the new champion; a rollback stops with exit 2), on SQLite and through a real `mlflow server`.
- Two `lrat promote` processes started together on one store: both decisions are recorded and the rollback chain
  holds every version that was ever champion.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lrat.registry.store import CHAMPION, PREVIOUS, REPLACED_TAG, Registry

from .helpers import lrat_cli, project_params, training_run
from .server import mlflow_server

pytestmark = pytest.mark.slow
NAME = "lrat-retriever"


def _register(root: Path, name: str, folder: Path) -> str:
    from sentence_transformers import SentenceTransformer

    model_dir, _ = training_run(root, name, model=SentenceTransformer(str(folder), device="cpu"))
    code, out = lrat_cli("register", "--model-dir", str(model_dir), "--quiet", "--out", str(root / f"{name}.json"))
    assert code == 0, out
    return json.loads((root / f"{name}.json").read_text())["version"]


def _project(root: Path, assets: dict[str, Path]) -> tuple[str, str]:
    """params.yaml, and two registered versions: ``small`` (v1) and the stronger MiniLM ``good`` (v2)."""
    from lrat.retrieval.encoder import model_path

    project_params(root, assets)
    return _register(root, "small", assets["small"]), _register(root, "good", Path(model_path("base")))


def snapshot(registry: Registry) -> dict[str, Any]:
    """Everything a promotion could write: registered models (tags, aliases), versions (tags, description,
    aliases), experiments and every run (tags, params, metrics)."""
    client = registry.client
    models = {m.name: (sorted((m.tags or {}).items()), sorted((m.aliases or {}).items()))
              for m in client.search_registered_models()}
    versions = {(v.name, v.version): (sorted((v.tags or {}).items()), v.description, v.run_id)
                for v in client.search_model_versions(f"name = '{NAME}'")}
    experiments = client.search_experiments()
    runs = {r.info.run_id: (sorted(r.data.tags.items()), sorted(r.data.params.items()), sorted(r.data.metrics.items()))
            for r in client.search_runs([e.experiment_id for e in experiments])}
    return {"models": models, "versions": versions, "experiments": sorted(e.name for e in experiments), "runs": runs,
            "aliases": registry.aliases()}


def chain(registry: Registry) -> list[str]:
    """@champion, then each version that one replaced (what successive rollbacks restore)."""
    out, version = [], registry.aliases().get(CHAMPION)
    while version and version not in out:
        out.append(version)
        version = registry.get(version).tags.get(REPLACED_TAG)
    return out


@contextmanager
def store(kind: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(root)
    if kind == "sqlite":
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield
        return
    with mlflow_server(root / "server") as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        yield


def meanwhile(monkeypatch: pytest.MonkeyPatch, action) -> list[int]:
    """Run ``action`` (another process's registry moves, through its own client) once, right before this
    process takes the registry lock to move aliases: after its evaluation, before its alias moves."""
    real, calls = Registry.lock, []

    @contextmanager
    def lock(self: Registry, *args: Any, **kwargs: Any) -> Iterator[None]:
        if not calls:
            action(Registry(NAME))
        calls.append(1)
        with real(self, *args, **kwargs):
            yield

    monkeypatch.setattr(Registry, "lock", lock)
    return calls


def test_dry_run_decides_and_changes_nothing(tmp_path: Path, assets: dict[str, Path],
                                             monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    small, good = _project(tmp_path, assets)
    world = ["--world", str(assets["world"]), "--quiet"]
    assert lrat_cli("promote", "--candidate", f"models:/{NAME}/{small}", *world)[0] == 0
    registry = Registry(NAME)
    code, out = lrat_cli("register", "--model-dir", str(tmp_path / "models" / "good"), "--quiet")
    assert code == 0 and registry.aliases() == {"champion": small, "challenger": good}
    before = snapshot(registry)
    report, record_path = tmp_path / "dry" / "promotion.md", tmp_path / "dry" / "promotion.json"
    dry = ["--dry-run", "--report", str(report), "--metrics", str(record_path), *world]

    # the challenger would win: exit 0, the full record and report, and not one write to the store
    code, out = lrat_cli("promote", *dry)
    assert code == 0, out
    assert f"DRY RUN: WOULD PROMOTE version {good} over version {small}" in out
    record = json.loads(record_path.read_text())
    assert record["dry_run"] is True and record["decision"] == "promoted"
    assert record["champion"]["version"] == small and record["candidate"]["version"] == good
    assert record["evaluation"]["offline"]["candidate"]["recall@10"] > \
        record["evaluation"]["offline"]["current"]["recall@10"]
    text = report.read_text()
    assert text.startswith("# Promotion (dry run): WOULD PROMOTE") and "nothing in the registry was changed" in text
    assert snapshot(registry) == before
    assert not (tmp_path / "metrics" / "promotion.json").exists() or \
        json.loads((tmp_path / "metrics" / "promotion.json").read_text()).get("dry_run") is None

    # an unregistered model is evaluated as named (never imported): the random tiny one would be refused
    code, out = lrat_cli("promote", "--candidate", str(assets["tiny"]), *dry)
    assert code == 1, out
    assert "WOULD REFUSE" in out and "FAILED recall_at_10_gain" in out
    record = json.loads(record_path.read_text())
    assert record["decision"] == "refused" and record["candidate"]["version"] is None
    assert record["candidate"]["uri"] == str(assets["tiny"])
    assert "(not registered)" in report.read_text()
    assert snapshot(registry) == before

    # a folder trained elsewhere (its run is not in this store): its own lrat_train.json says how it was trained
    elsewhere = tmp_path / "pr-model"
    shutil.copytree(tmp_path / "models" / "good", elsewhere)
    (elsewhere / "lrat_train.json").write_text(json.dumps({"run_id": "f" * 32, "labels_sha256": "0" * 64,
                                                           "validation": "failed"}))
    code, out = lrat_cli("promote", "--candidate", str(elsewhere), *dry)
    assert code == 1 and "FAILED label_validation: observed failed" in out, out
    checks = {c["name"]: c["passed"] for c in json.loads(record_path.read_text())["checks"]}
    assert checks["recall_at_10_gain"] is True and checks["label_validation"] is False
    assert snapshot(registry) == before

    # the champion itself, named by its training folder: nothing to decide, exit 0
    code, out = lrat_cli("promote", "--candidate", str(tmp_path / "models" / "small"), *dry)
    assert code == 0 and f"version {small} already is @champion" in out, out
    assert json.loads(record_path.read_text())["decision"] == "unchanged"
    assert report.read_text().startswith("# Promotion (dry run): ALREADY CHAMPION")
    assert snapshot(registry) == before
    assert lrat_cli("promote", "--dry-run", "--rollback")[0] == 2

    # a version of another registered model is read where it is, not copied in
    import mlflow

    other = mlflow.register_model(f"runs:/{registry.get(good).run_id}/model", "other-retriever")
    before = snapshot(registry)
    code, out = lrat_cli("promote", "--candidate", f"models:/other-retriever/{other.version}", *dry)
    assert code == 0 and "WOULD PROMOTE" in out, out
    assert json.loads(record_path.read_text())["candidate"]["uri"] == f"models:/other-retriever/{other.version}"
    assert snapshot(registry) == before


@pytest.mark.parametrize("kind", ["sqlite", "server"])
def test_a_champion_moved_during_the_evaluation_is_not_overruled(kind: str, tmp_path: Path,
                                                                 assets: dict[str, Path],
                                                                 monkeypatch: pytest.MonkeyPatch):
    with store(kind, tmp_path, monkeypatch):
        small, good = _project(tmp_path, assets)
        registry = Registry(NAME)
        world = ["--world", str(assets["world"]), "--quiet"]

        # judged against the base model, but meanwhile another process made `small` the champion: `good` is
        # judged again against `small`, wins, and replaces it (small stays in the rollback chain)
        calls = meanwhile(monkeypatch, lambda other: other.promote(other.get(small), None))
        code, out = lrat_cli("promote", "--candidate", f"models:/{NAME}/{good}", *world)
        assert code == 0, out
        assert len(calls) == 2  # two alias-move attempts: the stale one, then the one that moved
        record = json.loads((tmp_path / "metrics" / "promotion.json").read_text())
        assert record["decision"] == "promoted" and record["champion"]["version"] == small
        assert record["reevaluated"][0]["champion_was"] is None
        assert record["reevaluated"][0]["champion_now"] == small
        assert "evaluated again" in (tmp_path / "reports" / "promotion.md").read_text()
        assert registry.aliases()[CHAMPION] == good and registry.aliases()[PREVIOUS] == small
        assert chain(registry) == [good, small]

        # a rollback asked while `good` was champion, but meanwhile a third version replaced it: exit 2, nothing
        # moved, the chain intact
        third = _register(tmp_path, "third", assets["small"])
        meanwhile(monkeypatch, lambda other: other.promote(other.get(third), other.get(good)))
        code, out = lrat_cli("promote", "--rollback")
        assert code == 2, out
        assert f"changed from version {good} to version {third} while rolling back" in out
        assert registry.aliases()[CHAMPION] == third and registry.aliases()[PREVIOUS] == good
        assert chain(registry) == [third, good, small]
        assert not any(m.name.endswith(".promotion-lock") for m in registry.client.search_registered_models())


def test_two_promotions_started_together(tmp_path: Path, assets: dict[str, Path], monkeypatch: pytest.MonkeyPatch):
    """Both candidates beat the base model; whichever process moves aliases second must judge its candidate
    against the first one's champion, not against the base model it started from."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    small, good = _project(tmp_path, assets)
    exe = Path(sys.executable).parent / "lrat"
    env = {**os.environ, "MLFLOW_TRACKING_URI": ""}
    procs = {v: subprocess.Popen([str(exe), "promote", "--candidate", f"models:/{NAME}/{v}", "--world",
                                  str(assets["world"]), "--quiet", "--metrics", f"decision-{v}.json", "--report",
                                  f"decision-{v}.md"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
             for v in (small, good)}
    outs = {v: p.communicate(timeout=900)[0] for v, p in procs.items()}
    for v, p in procs.items():
        assert p.returncode in (0, 1), f"version {v}: exit {p.returncode}\n{outs[v]}"
    records = {v: json.loads((tmp_path / f"decision-{v}.json").read_text()) for v in (small, good)}
    registry = Registry(NAME)
    runs = registry.client.search_runs([registry.client.get_experiment_by_name("lrat-promotion").experiment_id])
    assert sorted(r.data.tags["candidate.version"] for r in runs) == sorted([small, good])  # both recorded
    ever = {v for v, r in records.items() if r["decision"] == "promoted"}
    assert ever <= set(chain(registry)), (chain(registry), {v: r["decision"] for v, r in records.items()})
    assert registry.aliases()[CHAMPION] == good, outs  # the stronger model ends as champion, whatever the order
    # at most one decision was taken against the base model: the other saw the first one's champion
    assert sum(r["champion"]["version"] is None for r in records.values() if r["decision"] == "promoted") <= 1
    assert not any(m.name.endswith(".promotion-lock") for m in registry.client.search_registered_models())


def test_a_saved_decision_applied_later_is_judged_again_and_saved(tmp_path: Path, assets: dict[str, Path],
                                                                  monkeypatch: pytest.MonkeyPatch):
    """The flywheel saves its judgement before moving aliases (a killed round resumes from it); when the champion
    moved in between, `settle` judges again and hands every new judgement to ``saved`` before its alias moves."""
    from lrat.registry import promotion
    from lrat.settings import load_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    small, good = _project(tmp_path, assets)
    params = tmp_path / "params.yaml"
    settings = promotion.Settings.from_settings(load_settings(params), params, assets["world"], tmp_path)
    registry = Registry(NAME)
    candidate = registry.get(good)
    record = promotion.judge(candidate, "flywheel round 1", settings, registry, progress=False)
    assert record["decision"] == "promoted" and record["champion"]["version"] is None
    registry.promote(registry.get(small), None)  # someone else's promotion, after the judgement was saved
    saved: list[dict] = []
    out = promotion.settle(record, candidate, "flywheel round 1", settings, registry, False, saved=saved.append)
    assert [s["champion"]["version"] for s in saved] == [small]
    assert saved[0]["reevaluated"][0]["champion_now"] == small
    assert out["decision"] == "promoted" and out["aliases"][CHAMPION] == good and out["aliases"][PREVIOUS] == small
    # applied again (a resumed round): nothing moves, nothing is judged
    assert promotion.settle(saved[-1], candidate, "x", settings, registry, False, saved=saved.append)[
        "aliases"] == out["aliases"]
    assert len(saved) == 1
