"""What a registered version carries so that "why does this model serve?" has an answer: the commit, the DVC
pipeline state it came from (trajectories, labels, model), the labels' hash, the settings, and its scores."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lrat.io import file_digest
from lrat.settings import read_yaml
from lrat.tracking import dvc_lock_hashes, git_commit

# tag name -> (dvc.lock stage, output path) of the embedded pipeline; a user's pipeline with other paths still
# gets every stage output under `dvc.lock` in the training run's lineage artifact
DVC_TAGS = {
    "dvc.runs_md5": ("trajectories", "data/runs/sim"),
    "dvc.trajectories_md5": ("ingest", "data/ingested/trajectories.jsonl"),
    "dvc.labels_md5": ("mine", "data/labels/labels.jsonl"),
    "dvc.model_md5": ("train", "models/lrat"),
}


def dir_md5(path: Path) -> str:
    """DVC 3's hash of a directory output (md5 of its sorted ``{md5, relpath}`` listing, plus ``.dir``), so a
    dvc.lock entry can be checked against the folder actually registered."""
    entries = sorted(({"md5": file_digest(p, "md5"), "relpath": p.relative_to(path).as_posix()}
                      for p in path.rglob("*") if p.is_file()), key=lambda e: e["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode(), usedforsecurity=False).hexdigest() + ".dir"


def params_sha256(params: Path) -> str | None:
    values = read_yaml(params)
    if not values:
        return None
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def dvc_tags(model_dir: Path | None, root: Path) -> dict[str, str]:
    """The dvc.lock hashes of trajectories, labels and model; ``dvc.model_matches_lock`` says whether the model
    folder on disk is the one dvc.lock records (false after a retraining outside `dvc repro`)."""
    lock = dvc_lock_hashes(root)
    tags: dict[str, str] = {}
    for tag, (stage, path) in DVC_TAGS.items():
        value = lock.get(f"{stage}:{path}")
        if value:
            tags[tag] = value
    if model_dir is not None and "dvc.model_md5" in tags and model_dir.is_dir():
        tags["dvc.model_matches_lock"] = str(dir_md5(model_dir) == tags["dvc.model_md5"]).lower()
    return tags


def run_tags(run: Any, model_dir: Path | None, root: Path, params: Path) -> dict[str, str]:
    """Version tags for the model of training run ``run`` (an ``mlflow.entities.Run``)."""
    p, t = run.data.params, run.data.tags
    tags = {
        "source.run_id": run.info.run_id,
        "git.commit": p.get("git.commit") or t.get("mlflow.source.git.commit") or git_commit(root) or "unknown",
        **dvc_tags(model_dir, root),
    }
    optional = {
        "labels.sha256": p.get("labels.sha256"),
        "labels.path": p.get("labels.path"),
        "validation.status": t.get("validation.status"),
        "params.sha256": params_sha256(params),
        "eval.benchmark_sha256": t.get("eval.benchmark_sha256"),
        "eval.split": t.get("eval.split"),
    }
    tags.update({k: str(v) for k, v in optional.items() if v})
    return tags


def description(run: Any) -> str:
    """One line: what it learned from and how it scored on the held-out questions (the run's canonical numbers)."""
    p, m, t = run.data.params, run.data.metrics, run.data.tags
    data = []
    if "rows.used" in p:
        data.append(f"{p['rows.used']} label rows")
    if "mining.rows" in m:
        data.append(f"of {int(m['mining.rows'])} mined")
    if p.get("labels.sha256"):
        data.append(f"labels {p['labels.sha256'][:12]}")
    if p.get("base_model"):
        data.append(f"base {p['base_model']}")
    scores = [f"{label} {m[key]:.3f}" for key, label in (("eval.recall_at_10", "recall@10"),
                                                         ("eval.ndcg_at_10", "nDCG@10"),
                                                         ("agent_eval.success", "agent success")) if key in m]
    where = f"held-out {t.get('eval.split', '?')} ({t.get('eval.n_queries', '?')} q)" if scores else ""
    held_out = f"{where}: " + ", ".join(scores) if scores else "not evaluated on held-out questions yet"
    return f"Trained on {', '.join(data) or 'unknown data'}; {held_out}."
