"""The path a teammate takes: clone the repository, `dvc pull`, and find the pipeline up to date. One small
project (a copy of this repository with a small world) runs the real `dvc repro` of the data stages up to the label
gate (`validate`) once, commits dvc.lock and the uncached metrics, and pushes to a DVC remote; a `git clone` of it
then pulls and must have nothing to reproduce. Once with a shared-folder remote, once with an S3 remote (moto).

Every output a stage needs to count as up to date must reach the clone through git or the DVC remote. The `mine`
stage's judge cache (data/judge/verdicts.sqlite, `persist: true`) is git-ignored, so it has to be a cached output:
as `cache: false` it never left the first machine and every clone saw `mine` as changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

from .servers import DUMMY_AWS, S3, VENV_BIN

pytestmark = pytest.mark.slow
TARGET = "validate"  # the data stages: world, trajectories, ingest, mine, validate
OUTPUTS = ("dvc.lock", "data/ingested", "data/world", "data/runs", "data/labels", "data/judge", "metrics", "reports")


def env() -> dict[str, str]:
    """`lrat` on PATH for the stage commands; no AWS settings from outside (the remotes' config says it all)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**base, "PATH": f"{VENV_BIN}{os.pathsep}{base.get('PATH', '')}", "MLFLOW_TRACKING_URI": "",
            "AWS_EC2_METADATA_DISABLED": "true"}


def run(cwd: Path, *cmd: str, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(list(cmd), cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode} in {cwd}:\n{done.stdout[-3000:]}\n" \
                                 f"{done.stderr[-3000:]}"
    return done


def dvc(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return run(cwd, str(VENV_BIN / "dvc"), *args, timeout=timeout)


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run(cwd, "git", *args, timeout=120)


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding a copy of this project, with params made small (tests/flywheel/project.py's), after
    `dvc repro validate` and a commit of what DVC leaves for git."""
    work = tmp_path_factory.mktemp("dvc-remote") / "origin"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, work / name)
    for name in OUTPUTS:  # what the pipeline writes: this copy makes its own
        target = work / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    params = yaml.safe_load((work / "params.yaml").read_text(encoding="utf-8"))
    params["world"].update(n_docs=300, n_questions=160)
    params["train"].update(base_model="base")
    params["validate"].update(min_rows=5, satisfied_ratio=[0.0, 1.0], evidence_retention_min=0.0)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.email", "scale-test@example.invalid")
    git(work, "config", "user.name", "scale test")
    dvc(work, "repro", TARGET, timeout=900)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "pipeline up to the label gate")
    assert git(work, "status", "--porcelain").stdout == ""
    return work


def remote_settings(kind: str, tmp_path: Path, s3: S3) -> tuple[str, str, list[list[str]], list[list[str]]]:
    """(name, url, `dvc remote modify` calls for the committed config, ... for each clone's config.local)."""
    if kind == "folder":
        return "shared", str(tmp_path / "dvc-store"), [], []
    bucket = s3.create_bucket("team-dvc")
    secrets = [["access_key_id", DUMMY_AWS["AWS_ACCESS_KEY_ID"]],
               ["secret_access_key", DUMMY_AWS["AWS_SECRET_ACCESS_KEY"]]]
    return "s3", f"s3://{bucket}/lrat", [["endpointurl", s3.endpoint]], secrets


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_a_clone_pulls_and_finds_the_pipeline_up_to_date(origin: Path, kind: str, tmp_path: Path, s3: S3):
    name, url, shared, secrets = remote_settings(kind, tmp_path, s3)
    dvc(origin, "remote", "add", "--default", "--force", name, url)
    for key, value in shared:
        dvc(origin, "remote", "modify", name, key, value)
    for key, value in secrets:  # credentials stay out of git: .dvc/config.local
        dvc(origin, "remote", "modify", "--local", name, key, value)
    git(origin, "add", ".dvc/config")
    git(origin, "commit", "-q", "-m", f"DVC remote {name}")
    assert ".dvc/config.local" not in git(origin, "ls-files").stdout.split()
    dvc(origin, "push")
    assert json.loads(dvc(origin, "status", "--cloud", "--json", TARGET, "--with-deps").stdout or "{}") == {}
    if kind == "s3":
        assert s3.keys(url.split("/")[2], "lrat/")  # the cache went to the bucket

    # the teammate: clone, own credentials, pull
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    assert not (clone / "data" / "world").exists()
    for key, value in secrets:
        dvc(clone, "remote", "modify", "--local", name, key, value)
    dvc(clone, "pull", "--with-deps", TARGET)  # the stages this pipeline ran (make run: every stage)
    assert (clone / "data" / "labels" / "labels.jsonl").stat().st_size > 0
    # the judge's verdict cache is a cached output (dvc.yaml): git ignores it, DVC brings it
    assert (clone / "data" / "judge" / "verdicts.sqlite").is_file()

    status = dvc(clone, "status", "--json", TARGET, "--with-deps")
    assert json.loads(status.stdout or "{}") == {}, status.stdout
    assert "Data and pipelines are up to date." in dvc(clone, "status", TARGET, "--with-deps").stdout
    again = dvc(clone, "repro", TARGET)
    assert "Running stage" not in again.stdout + again.stderr, again.stdout
    assert git(clone, "status", "--porcelain").stdout == ""  # nothing rewritten: not dvc.lock, not a metric
