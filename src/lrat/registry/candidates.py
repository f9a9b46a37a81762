"""Turning what a user names (a training run's model folder, ``base``, any folder, an MLflow URI) into a registered
version of ``lrat-retriever``: a decision is always about a version, so it can be traced and rolled back."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrat.registry.lineage import description, run_tags
from lrat.registry.store import CHALLENGER, Registry, RegistryError, Version

TRAIN_SUMMARY = "lrat_train.json"  # written by `lrat train` into the model folder: names the training run
MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))$")


@dataclass(frozen=True)
class Context:
    """Where lineage comes from: the repository root (git, dvc.lock), params.yaml, and the experiment that holds
    the runs of imported (not trained here) models."""

    root: Path
    params: Path
    import_experiment: str  # params.yaml registry.import_experiment


def training_run_id(model_dir: Path) -> str:
    summary = Path(model_dir) / TRAIN_SUMMARY
    if not summary.is_file():
        raise RegistryError(f"{model_dir} has no {TRAIN_SUMMARY}: it was not written by `lrat train` (to put any "
                            "other model through the gate use `lrat promote --candidate FOLDER`)")
    run_id = json.loads(summary.read_text(encoding="utf-8")).get("run_id")
    if not run_id:
        raise RegistryError(f"{summary} names no MLflow run (run_id)")
    return str(run_id)


def _get_run(registry: Registry, run_id: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return registry.client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def register_training_run(registry: Registry, run_id: str, model_dir: Path | None, ctx: Context
                          ) -> tuple[Version, bool]:
    """The model a training run logged, as a version carrying the run's lineage; the same run twice → the same
    version."""
    run = _get_run(registry, run_id)
    if run is None:
        from lrat.registry.store import redact
        from lrat.tracking import tracking_uri

        raise RegistryError(f"MLflow run {run_id} (named by {model_dir or 'the URI'}) is not in the tracking store "
                            f"{redact(tracking_uri())}: was it trained against another store? Set "
                            "MLFLOW_TRACKING_URI to that store, or import the folder with `lrat promote --candidate "
                            "FOLDER`")
    return registry.register(f"runs:/{run_id}/model", run_id, run_tags(run, model_dir, ctx.root, ctx.params),
                             description(run))


def register_folder(registry: Registry, model_dir: Path, ctx: Context, alias: str | None = CHALLENGER
                    ) -> tuple[Version, bool]:
    """`lrat register`: the training run behind ``model_dir`` becomes a version, with alias ``challenger``. A
    folder whose training run is not in this store (restored from a DVC remote, or trained against another store)
    is imported with the lineage its lrat_train.json records instead."""
    run_id = training_run_id(model_dir)
    if _get_run(registry, run_id) is None:
        import sys

        from lrat.registry.store import redact
        from lrat.tracking import tracking_uri

        print(f"note: training run {run_id} of {model_dir} is not in the tracking store {redact(tracking_uri())} "
              "(restored from a DVC remote, or trained against another store): registering the folder with the "
              "lineage its lrat_train.json records", file=sys.stderr)
        version, created = _import(registry, str(model_dir), ctx)
    else:
        version, created = register_training_run(registry, run_id, model_dir, ctx)
    if alias:
        registry.set_alias(alias, version.version)
        version = registry.get(version.version)
    return version, created


def _trained_elsewhere(spec: str) -> dict[str, Any] | None:
    """lrat_train.json of a folder trained by `lrat train`, when it records the labels it learned from."""
    summary = Path(spec) / TRAIN_SUMMARY
    if spec == "base" or not summary.is_file():
        return None
    facts = json.loads(summary.read_text(encoding="utf-8"))
    return facts if facts.get("labels_sha256") else None


def import_model(registry: Registry, spec: str, ctx: Context) -> Version:
    """`_import`'s version."""
    return _import(registry, spec, ctx)[0]


def _import(registry: Registry, spec: str, ctx: Context) -> tuple[Version, bool]:
    """A model with no training run here (``base``, a Hugging Face id, a folder from elsewhere) logged once and
    registered; the same weights twice → the same version (keyed by a hash of the weights). A folder `lrat train`
    wrote keeps its training facts (labels hash, validation status, training run id) as kind ``trained``, so the
    gate still checks its labels' validation."""
    import mlflow
    import mlflow.sentence_transformers

    from lrat.retrieval.encoder import fingerprint, load_model
    from lrat.tracking import git_commit, use_experiment
    from lrat.training.train import pip_requirements

    model = load_model(spec)
    weights = fingerprint(model)
    existing = registry.find(**{"model.fingerprint": weights})
    if existing is not None:
        return existing, False
    from lrat.retrieval.specs import hub_id

    trained = _trained_elsewhere(spec) if hub_id(spec) is None else None
    kind = "base" if spec == "base" else "hub" if hub_id(spec) is not None else "trained" if trained else "folder"
    use_experiment(ctx.import_experiment, ctx.root)
    import_tags = {"lrat.import": kind}
    if trained:
        import_tags["validation.status"] = str(trained.get("validation") or "missing")
    with mlflow.start_run(run_name=f"import {Path(spec).name if kind in ('folder', 'trained') else spec}",
                          tags=import_tags) as run:
        mlflow.log_params({"model.spec": spec, "model.fingerprint": weights})
        if trained:
            mlflow.log_params({"labels.sha256": trained["labels_sha256"],
                               "train.run_id": str(trained.get("run_id") or "unknown")})
        mlflow.sentence_transformers.log_model(model, name="model", pip_requirements=pip_requirements(),
                                               create_model_card=False)
    label = {"base": "the packaged MiniLM (base)", "hub": f"the Hugging Face model {spec}",
             "trained": f"the model folder {spec}, trained by lrat in run {trained and trained.get('run_id')} of "
                        "another tracking store"}.get(kind, f"the model folder {spec}")
    tags = {"source.kind": kind, "model.spec": spec, "source.run_id": run.info.run_id,
            "git.commit": git_commit(ctx.root) or "unknown"}
    if trained:
        tags.update({"labels.sha256": trained["labels_sha256"], "train.run_id": str(trained.get("run_id")),
                     "validation.status": import_tags["validation.status"]})
    note = ("its training facts come from its lrat_train.json" if trained else
            "not trained by lrat, so no labels or training lineage")
    return registry.register(f"runs:/{run.info.run_id}/model", run.info.run_id, tags, f"Imported {label}; {note}.",
                             key={"model.fingerprint": weights})


def _from_models_uri(registry: Registry, spec: str, match: re.Match[str]) -> Version:
    name, number, alias = match["name"], match["version"], match["alias"]
    if name == registry.name:
        if number:
            return registry.get(number)
        found = registry.by_alias(alias)
        if found is None:
            raise RegistryError(f"{registry.name} has no alias @{alias} (aliases: "
                                f"{', '.join(f'@{a}' for a in registry.aliases()) or 'none'})")
        return found
    client = registry.client
    src = client.get_model_version(name, number) if number else client.get_model_version_by_alias(name, alias)
    pinned = f"models:/{name}/{src.version}"
    existing = registry.find(**{"source.model_uri": pinned})
    if existing is not None:
        return existing
    registry.ensure_model()
    copied = client.copy_model_version(pinned, registry.name)
    registry.tag(str(copied.version), {"source.model_uri": pinned, "source.kind": "registry-copy"})
    return registry.get(str(copied.version))


def resolve_candidate(registry: Registry, spec: str | None, ctx: Context) -> tuple[Version, str]:
    """``(version, what the user asked for)``; ``None`` is the ``challenger`` alias."""
    if spec is None:
        found = registry.by_alias(CHALLENGER)
        if found is None:
            raise RegistryError(f"{registry.name} has no @{CHALLENGER}: run `lrat register` after training, or name "
                                "one with --candidate (base, a Hugging Face id, a model folder, an MLflow URI)")
        return found, f"@{CHALLENGER}"
    if match := MODELS_URI.match(spec):
        return _from_models_uri(registry, spec, match), spec
    if spec.startswith("runs:/"):
        run_id = spec[len("runs:/"):].split("/", 1)[0]
        return register_training_run(registry, run_id, None, ctx)[0], spec
    if spec.startswith("models:/"):
        raise RegistryError(f"{spec!r}: expected models:/NAME/VERSION or models:/NAME@ALIAS")
    from lrat.retrieval.specs import ModelNotFound, check_spec, hub_id

    try:
        check_spec(spec, "--candidate")
    except ModelNotFound as exc:
        raise RegistryError(str(exc)) from None
    if spec != "base" and hub_id(spec) is None and (Path(spec) / TRAIN_SUMMARY).is_file():
        run_id = training_run_id(Path(spec))
        if _get_run(registry, run_id) is not None:
            return register_training_run(registry, run_id, Path(spec), ctx)[0], spec
    return import_model(registry, spec, ctx), spec


def peek_candidate(registry: Registry, spec: str | None, ctx: Context) -> tuple[Version, str]:
    """`resolve_candidate` for a dry run: reads the registry, never writes to it. What is not registered in this
    store (a folder trained elsewhere, e.g. by a pull request's pipeline; a run; a Hub id) comes back as a Version
    with an empty ``version`` whose ``source`` is the spec; a model whose weights or training run are already
    registered comes back as that version (so a dry run of the champion itself says "already champion")."""
    match = MODELS_URI.match(spec) if spec else None
    if match and match["name"] != registry.name:  # another registered model's version: read, not copied in
        client = registry.client
        src = (client.get_model_version(match["name"], match["version"]) if match["version"] else
               client.get_model_version_by_alias(match["name"], match["alias"]))
        pinned = f"models:/{match['name']}/{src.version}"
        return registry.find(**{"source.model_uri": pinned}) or Version(registry.name, "", src.run_id, pinned), spec
    if spec is None or spec.startswith("models:/"):
        return resolve_candidate(registry, spec, ctx)  # this registered model: read only
    if spec.startswith("runs:/"):
        run_id = spec[len("runs:/"):].split("/", 1)[0]
        return registry.find(run_id=run_id) or Version(registry.name, "", run_id, spec), spec
    from lrat.retrieval.specs import ModelNotFound, check_spec, hub_id

    try:
        check_spec(spec, "--candidate")
    except ModelNotFound as exc:
        raise RegistryError(str(exc)) from None
    run_id = None
    if spec != "base" and hub_id(spec) is None and (Path(spec) / TRAIN_SUMMARY).is_file():
        run_id = training_run_id(Path(spec))
        found = registry.find(run_id=run_id)
        if found is not None:
            return found, spec
    from lrat.retrieval.encoder import fingerprint, load_model

    found = registry.find(**{"model.fingerprint": fingerprint(load_model(spec))})
    return found or Version(registry.name, "", run_id, spec, description="not registered in this store"), spec


def folder_facts(spec: str) -> tuple[bool, str | None]:
    """`training_facts` of a model folder that is not registered (a dry run): what its lrat_train.json says."""
    facts = _trained_elsewhere(spec)
    return (True, facts.get("validation")) if facts else (False, None)


def training_facts(registry: Registry, version: Version) -> tuple[bool, str | None]:
    """(trained by lrat?, its labels' validation status) read from the version's source run, not from the
    version's own tags; for an unregistered model (a dry run), from its run when this store has it, else from the
    folder's lrat_train.json."""
    if not version.version:
        run = _get_run(registry, version.run_id) if version.run_id else None
        if run is None:
            return folder_facts(version.source)
    elif version.tags.get("source.kind") in ("base", "hub", "folder") or not version.run_id:
        return False, None
    run = _get_run(registry, version.run_id)
    if run is None or "labels.sha256" not in run.data.params:
        return False, None
    return True, run.data.tags.get("validation.status")
