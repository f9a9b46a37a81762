"""Registration, aliases, promotion and rollback moves on a real MLflow SQLite store (tiny models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrat.registry.candidates import Context, register_folder, resolve_candidate
from lrat.registry.lineage import dir_md5
from lrat.registry.store import CHALLENGER, CHAMPION, PREVIOUS, REPLACED_TAG, Registry, RegistryError

from .helpers import Flaky, training_run, write_lock

NAME = "lrat-retriever"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    (tmp_path / "params.yaml").write_text("seed: 13\nregistry:\n  name: lrat-retriever\n")
    return tmp_path


@pytest.fixture
def ctx(root: Path) -> Context:
    return Context(root, root / "params.yaml", "lrat-registry")


def _versions(registry: Registry) -> list[str]:
    return sorted(str(mv.version) for mv in registry.client.search_model_versions(f"name = '{NAME}'"))


def test_register_carries_lineage_and_never_duplicates(root: Path, ctx: Context):
    folder, run_id = training_run(root, "lrat", scores={"recall_at_10": 0.632, "ndcg_at_10": 0.608})
    write_lock(root, {"trajectories": ("data/runs/sim", "aa.dir"), "ingest": ("data/ingested/trajectories.jsonl",
                                                                              "bb"),
                      "mine": ("data/labels/labels.jsonl", "cc"), "train": ("models/lrat", dir_md5(folder))})
    registry = Registry(NAME)
    version, created = register_folder(registry, folder, ctx)
    assert created and version.run_id == run_id and version.aliases == (CHALLENGER,)
    tags = version.tags
    assert tags["git.commit"].startswith("c0ffee") and tags["labels.sha256"] == f"{0:064x}"
    assert (tags["dvc.runs_md5"], tags["dvc.trajectories_md5"], tags["dvc.labels_md5"]) == ("aa.dir", "bb", "cc")
    assert tags["dvc.model_md5"] == dir_md5(folder) and tags["dvc.model_matches_lock"] == "true"
    assert len(tags["params.sha256"]) == 64 and tags["validation.status"] == "passed"
    assert "recall@10 0.632" in version.description and "nDCG@10 0.608" in version.description
    again, created_again = register_folder(registry, folder, ctx)
    assert (again.version, created_again) == (version.version, False)
    assert _versions(registry) == ["1"]
    # the same folder, retrained outside `dvc repro`: dvc.lock no longer describes it, and the tag says so
    (folder / "extra.txt").write_text("changed")
    assert register_folder(registry, folder, ctx)[0].tags["dvc.model_matches_lock"] == "false"


def test_register_errors_name_the_problem(root: Path, ctx: Context, tmp_path: Path):
    registry = Registry(NAME)
    (tmp_path / "plain").mkdir()
    with pytest.raises(RegistryError, match="not written by `lrat train`"):
        register_folder(registry, tmp_path / "plain", ctx)
    (tmp_path / "plain" / "lrat_train.json").write_text("{}")
    with pytest.raises(RegistryError, match="names no MLflow run"):
        register_folder(registry, tmp_path / "plain", ctx)
    with pytest.raises(RegistryError, match="no @challenger"):
        resolve_candidate(registry, None, ctx)


def _three_versions(root: Path, ctx: Context) -> Registry:
    registry = Registry(NAME)
    for seed in (1, 2, 3):
        folder, _ = training_run(root, f"m{seed}", seed=seed)
        register_folder(registry, folder, ctx, alias=None)
    return registry


def test_promotion_and_rollback_walk_the_history(root: Path, ctx: Context):
    registry = _three_versions(root, ctx)
    registry.promote(registry.get("1"), None)
    assert registry.aliases() == {CHAMPION: "1"}
    registry.promote(registry.get("2"), registry.get("1"))
    registry.set_alias(CHALLENGER, "3")
    registry.promote(registry.get("3"), registry.get("2"))
    assert registry.aliases() == {CHAMPION: "3", PREVIOUS: "2", CHALLENGER: "3"}
    assert registry.get("3").tags[REPLACED_TAG] == "2"

    restored, rolled_back = registry.rollback()
    assert (restored.version, rolled_back.version) == ("2", "3")
    # v2 replaced v1, so v1 is the next step back; the rolled-back v3 is no longer offered as challenger
    assert registry.aliases() == {CHAMPION: "2", PREVIOUS: "1"}
    assert registry.get("3").tags["promotion.rolled_back"] == "true"
    registry.rollback()
    assert registry.aliases() == {CHAMPION: "1"}
    with pytest.raises(RegistryError, match="nothing to roll back to.*champion is version 1"):
        registry.rollback()
    assert _versions(registry) == ["1", "2", "3"]  # nothing is ever deleted


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_promotion_killed_between_registry_calls_leaves_one_valid_champion(root: Path, ctx: Context,
                                                                             fail_at: int):
    registry = _three_versions(root, ctx)
    registry.promote(registry.get("1"), None)
    flaky = Registry(NAME, client=Flaky(registry.client, fail_at))
    try:
        flaky.promote(flaky.get("2"), flaky.get("1"))
    except KeyboardInterrupt:
        pass
    champion = registry.aliases()[CHAMPION]
    assert champion in {"1", "2"}
    assert registry.get(champion).source  # points at an existing version with a model
    if champion == "2":
        assert registry.aliases()[PREVIOUS] == "1"


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_rollback_killed_between_registry_calls_leaves_one_valid_champion(root: Path, ctx: Context,
                                                                            fail_at: int):
    registry = _three_versions(root, ctx)
    registry.promote(registry.get("1"), None)
    registry.promote(registry.get("2"), registry.get("1"))
    try:
        Registry(NAME, client=Flaky(registry.client, fail_at)).rollback()
    except KeyboardInterrupt:
        pass
    assert registry.aliases()[CHAMPION] in {"1", "2"}


def test_candidates_resolve_to_versions(root: Path, ctx: Context):
    registry = _three_versions(root, ctx)
    registry.set_alias(CHAMPION, "2")
    assert resolve_candidate(registry, "models:/lrat-retriever/3", ctx)[0].version == "3"
    assert resolve_candidate(registry, "models:/lrat-retriever@champion", ctx)[0].version == "2"
    with pytest.raises(RegistryError, match="no alias @nope .*@champion"):
        resolve_candidate(registry, "models:/lrat-retriever@nope", ctx)
    run_id = registry.get("1").run_id
    assert resolve_candidate(registry, f"runs:/{run_id}/model", ctx)[0].version == "1"  # already registered
    assert resolve_candidate(registry, str(root / "models" / "m3"), ctx)[0].version == "3"  # its training run
    with pytest.raises(RegistryError, match="is not 'base', a Hugging Face id"):
        resolve_candidate(registry, "no/such/folder", ctx)
    with pytest.raises(RegistryError, match="expected models:/NAME/VERSION"):
        resolve_candidate(registry, "models:/a/b/c", ctx)


def test_a_model_from_elsewhere_is_imported_once(root: Path, ctx: Context, tmp_path: Path):
    from tests.training.tiny import tiny_model

    registry = Registry(NAME)
    tiny_model(tmp_path / "elsewhere", seed=7)
    first, asked = resolve_candidate(registry, str(tmp_path / "elsewhere"), ctx)
    assert asked == str(tmp_path / "elsewhere") and first.tags["source.kind"] == "folder"
    assert "not trained by lrat" in first.description
    tiny_model(tmp_path / "copy", seed=7)  # same weights in another folder: the same version
    assert resolve_candidate(registry, str(tmp_path / "copy"), ctx)[0].version == first.version
    assert _versions(registry) == [first.version]
    # a registered version from another registered model is copied in once
    registry.client.create_registered_model("other")
    registry.client.create_model_version("other", first.source, first.run_id)
    copied = resolve_candidate(registry, "models:/other/1", ctx)[0]
    assert copied.version != first.version and copied.tags["source.model_uri"] == "models:/other/1"
    assert resolve_candidate(registry, "models:/other/1", ctx)[0].version == copied.version


@pytest.mark.parametrize("fail_at", [0, 1, 2])
def test_a_judged_promotion_applied_again_after_a_kill_ends_as_one_promotion(root: Path, ctx: Context,
                                                                             fail_at: int):
    """The flywheel saves the judged record, then applies it; a process killed at any point of the first
    application and resumed applies it again: the result is the one promotion, not v2 replacing itself."""
    from lrat.registry.promotion import apply_decision

    registry = _three_versions(root, ctx)
    registry.promote(registry.get("1"), None)
    record = {"decision": "promoted", "candidate": {"version": "2"}, "champion": {"version": "1"}}
    if fail_at:
        with pytest.raises(KeyboardInterrupt):
            apply_decision(record, Registry(NAME, client=Flaky(registry.client, fail_at)))
    else:
        apply_decision(record, registry)
    after = apply_decision(record, registry)
    assert after["aliases"] == registry.aliases() == {CHAMPION: "2", PREVIOUS: "1"}
    assert registry.get("2").tags[REPLACED_TAG] == "1"
    refused = apply_decision({**record, "decision": "refused", "candidate": {"version": "3"}}, registry)
    assert refused["decision"] == "refused" and registry.aliases() == {CHAMPION: "2", PREVIOUS: "1"}


def test_a_folder_trained_against_another_store_keeps_its_training_facts(root: Path, ctx: Context, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch):
    """A model restored from a DVC remote (its training run lives in another store): `lrat register` imports the
    folder once, with the labels hash and validation status its lrat_train.json records, so the gate still checks
    them."""
    import json

    from lrat.registry.candidates import training_facts

    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{elsewhere / 'other.db'}")
    folder, run_id = training_run(elsewhere, "lrat", validation="failed")
    facts = json.loads((folder / "lrat_train.json").read_text())
    (folder / "lrat_train.json").write_text(json.dumps({**facts, "labels_sha256": "ab" * 32, "validation": "failed"}))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    registry = Registry(NAME)
    version, created = register_folder(registry, folder, ctx)
    assert created and version.aliases == (CHALLENGER,)
    assert version.tags["source.kind"] == "trained" and version.tags["train.run_id"] == run_id
    assert version.tags["labels.sha256"] == "ab" * 32
    assert training_facts(registry, version) == (True, "failed")
    again, created_again = register_folder(registry, folder, ctx)
    assert (again.version, created_again) == (version.version, False)
    assert _versions(registry) == [version.version]
