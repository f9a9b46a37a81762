"""MLflow wiring shared by training, evaluation and the registry: where the store is, and what a run records about
the data it came from (so any number can be traced to the labels, the pipeline state and the code)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

DEFAULT_DB = "mlflow.db"
ARTIFACTS = "mlartifacts"


def tracking_uri(root: Path | None = None) -> str:
    """``$MLFLOW_TRACKING_URI`` (e.g. a remote server) or a SQLite store at the repository root."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{(root or Path.cwd()).resolve() / DEFAULT_DB}"


def display_uri(uri: str, root: Path | None = None) -> str:
    """A tracking URI as records show it (JSON, Markdown, MLflow artifacts that end in committed files).

    A local store relative to ``root``, the repository (default: the working directory): ``sqlite:///mlflow.db``,
    which MLflow reads the same from there; one outside it as ``sqlite:///../ci/mlflow.db``, so a record never
    holds a path of the machine that wrote it. Any other store as given, without credentials
    (``http://user:pass@host`` → ``http://host``, ``postgresql://u:p@h/db`` → ``postgresql://h/db``).
    `tracking_uri` stays absolute for MLflow itself (its SQLite paths are relative to the working directory)."""
    uri = _without_credentials(uri)
    base = (root or Path.cwd()).resolve()
    if uri.startswith("sqlite:///"):
        path, sep, query = uri.removeprefix("sqlite:///").partition("?")
        relative = _relative(path, base)
        return uri if relative is None else f"sqlite:///{relative}{sep}{query}"
    if uri.startswith("file://") or uri.startswith("/"):  # a file store: MLflow reads a relative path the same
        relative = _relative(uri.removeprefix("file://"), base)
        return uri if relative is None else relative
    return uri


def _relative(path: str, base: Path) -> str | None:
    """An absolute ``path`` relative to ``base`` (``../`` when outside it); None for a path already relative."""
    if not path.startswith("/"):
        return None
    return Path(os.path.relpath(Path(path).resolve(), base)).as_posix()


def _without_credentials(uri: str) -> str:
    """``scheme://user:password@host/...`` → ``scheme://host/...``; anything else unchanged."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    authority, slash, tail = rest.partition("/")
    if "@" not in authority:
        return uri
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{tail}"


def use_store(root: Path | None = None) -> str:
    """Point MLflow at the project's store (``tracking_uri``) and return its URI."""
    import mlflow

    # With a tracking server (http URI) MLflow writes "View run ... at: URL" lines to stdout when a run ends,
    # which would break every `--json` output; lrat keeps stdout for its own results.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    return uri


def use_experiment(name: str, root: Path | None = None) -> str:
    """Point MLflow at the store and the experiment, creating it with its artifacts beside the local store."""
    import mlflow

    uri = use_store(root)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        location = None
        if uri.startswith("sqlite:"):
            location = ((root or Path.cwd()).resolve() / ARTIFACTS).as_uri()
        experiment_id = mlflow.create_experiment(name, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def git_commit(root: Path | None = None) -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root or Path.cwd(), capture_output=True, text=True,
                              timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def dvc_lock_hashes(root: Path | None = None) -> dict[str, str]:
    """``stage:path → md5`` of every stage output in dvc.lock: the pipeline state the run trained on."""
    lock = (root or Path.cwd()) / "dvc.lock"
    if not lock.exists():
        return {}
    import yaml

    data = yaml.safe_load(lock.read_text(encoding="utf-8")) or {}
    out: dict[str, str] = {}
    for stage, body in (data.get("stages") or {}).items():
        for item in body.get("outs") or []:
            if isinstance(item, dict) and item.get("md5"):
                out[f"{stage}:{item['path']}"] = item["md5"]
    return out


def flat(prefix: str, value: Any) -> dict[str, Any]:
    """Nested dict → ``a.b.c`` keys (MLflow params and metrics are flat)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flat(f"{prefix}.{key}" if prefix else str(key), inner))
        return out
    return {prefix: value}
