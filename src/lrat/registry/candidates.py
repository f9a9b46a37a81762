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
    """`lrat register`: the training run behind ``model_dir`` becomes a version, with alias ``challenger``."""
    version, created = register_training_run(registry, training_run_id(model_dir), model_dir, ctx)
    if alias:
        registry.set_alias(alias, version.version)
        version = registry.get(version.version)
    return version, created


def import_model(registry: Registry, spec: str, ctx: Context) -> Version:
    """A model with no training run here (``base``, a Hugging Face id, a folder from elsewhere) logged once and
    registered; the same weights twice → the same version (keyed by a hash of the weights)."""
    import mlflow
    import mlflow.sentence_transformers

    from lrat.retrieval.encoder import fingerprint, load_model
    from lrat.tracking import git_commit, use_experiment
    from lrat.training.train import pip_requirements

    model = load_model(spec)
    weights = fingerprint(model)
    existing = registry.find(**{"model.fingerprint": weights})
    if existing is not None:
        return existing
    from lrat.retrieval.specs import hub_id

    kind = "base" if spec == "base" else "hub" if hub_id(spec) is not None else "folder"
    use_experiment(ctx.import_experiment, ctx.root)
    with mlflow.start_run(run_name=f"import {Path(spec).name if kind == 'folder' else spec}",
                          tags={"lrat.import": kind}) as run:
        mlflow.log_params({"model.spec": spec, "model.fingerprint": weights})
        mlflow.sentence_transformers.log_model(model, name="model", pip_requirements=pip_requirements(),
                                               create_model_card=False)
    label = {"base": "the packaged MiniLM (base)", "hub": f"the Hugging Face model {spec}"}.get(
        kind, f"the model folder {spec}")
    tags = {"source.kind": kind, "model.spec": spec, "source.run_id": run.info.run_id,
            "git.commit": git_commit(ctx.root) or "unknown"}
    version, _ = registry.register(f"runs:/{run.info.run_id}/model", run.info.run_id, tags,
                                   f"Imported {label}; not trained by lrat, so no labels or training lineage.",
                                   key={"model.fingerprint": weights})
    return version


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


def training_facts(registry: Registry, version: Version) -> tuple[bool, str | None]:
    """(trained by lrat?, its labels' validation status) read from the version's source run, not from the
    version's own tags."""
    if version.tags.get("source.kind") in ("base", "hub", "folder") or not version.run_id:
        return False, None
    run = _get_run(registry, version.run_id)
    if run is None or "labels.sha256" not in run.data.params:
        return False, None
    return True, run.data.tags.get("validation.status")
