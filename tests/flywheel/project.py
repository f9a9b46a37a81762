"""A small lrat project for flywheel tests: a generated world of a few hundred pages, the packaged MiniLM as the
base model (a few hundred pages encode in seconds), DVC initialised, and the repository's service code
(bentofile.yaml, src/) linked in, since bentos are built from a repository root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO

LRAT = [sys.executable, "-m", "lrat.cli"]


def lrat(root: Path, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([*LRAT, *args], cwd=root, capture_output=True, text=True, timeout=timeout,
                          env=project_env())
    if check and done.returncode != 0:
        raise AssertionError(f"lrat {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}")
    return done


def project_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_TRACKING_URI": ""}


def make_project(root: Path, **flywheel: Any) -> Path:
    """``root`` as a project: params.yaml (the repository's, made small), data/world, .dvc/; returns root."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("src", "bentofile.yaml"):
        (root / name).symlink_to(REPO / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["world"].update(n_docs=300, n_questions=160)
    params["train"].update(base_model="base", batch_size=16, max_seq_length=128)
    params["validate"].update(min_rows=5, satisfied_ratio=[0.0, 1.0], evidence_retention_min=0.0)
    params["promote"].update(min_gain=0.0, alpha=0.999, max_drop=1.0, max_success_drop=1.0, max_searches_rise=10.0)
    params["flywheel"].update({"questions_per_round": 20, "dvc": True, **flywheel})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    lrat(root, "simulate", "world", "--out", "data/world", "--retriever", "", "--metrics", "metrics/world.json",
         "--quiet")
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "init", "--no-scm", "-q"], cwd=root, check=True,
                   env=project_env())
    return root
