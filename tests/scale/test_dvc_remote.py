"""The path a teammate takes: clone the repository, `dvc pull`, and find the pipeline up to date.

One small project (a copy of this repository: a small world, a few training steps) runs the real `dvc repro` of
every stage once (world ... train, evaluate, ablation, register, promote, index, bento; MLflow in its own
mlflow.db, BentoML in its own .bentoml/), commits dvc.lock and the uncached metrics and reports, and pushes the
outputs and the run-cache (`dvc push --run-cache`, as the push-to-main workflow does) to a shared-folder remote.

- A `git clone` + `dvc pull --run-cache` (the pull-request workflow's pull) + `dvc repro` runs no stage: every
  stage "didn't change", `dvc status` is clean, and git sees nothing rewritten (not dvc.lock, not a metric).
- A clone without dvc.lock (a merge that dropped it, a branch whose lock is gone) has only the run-cache to go
  on. `dvc pull --run-cache` then fetches the run records only (with no lock it knows no output hashes), so the
  restore needs `dvc repro --pull`, which fetches the outputs of each record it finds; plain `dvc repro` restores
  nothing the local cache does not already hold. Even so DVC 3.x restores one stage here, `train`, and runs the
  others (asserted exactly, stage by stage, in RUN_CACHE_RESTORES / RUN_CACHE_RUNS):
    * never recorded in the run-cache: `mine` (a `persist: true` output, the judge cache), `register` (its
      metric is `persist: true` on purpose, see below), and `analyze`, `validate`, `promote` (each has an
      uncached output that is neither a metric nor a plot, reports/*.md: DVC does not record such runs);
    * recorded, but not restorable on another machine: `world`, `trajectories`, `ingest`, `split`, `evaluate`,
      `ablation` (and `bento`). A run record names every output, the uncached metrics and plots included; DVC
      copies those into the local cache when it records the run, but `dvc push --run-cache` sends only the
      records and the objects dvc.lock names, and dvc.lock names no uncached output. Another machine finds the
      record, not the metric ("Some of the cache files do not exist neither locally nor on remote"), and runs
      the stage;
    * `train` restores: its one uncached output, metrics/train.json, has the bytes of models/lrat/lrat_train.json,
      which reaches the remote with models/lrat;
    * `index` (only cached outputs, so restorable) and `bento` find no record for their inputs: the re-run
      `promote` wrote a new MLflow run id into metrics/promotion.json, and the re-run index a new build time into
      models/index/manifest.json.
  `register` stays out of the run-cache because its real output is a version and the @challenger alias in the
  MLflow store, which no cache restores: restored from a record, it left @challenger on whatever was registered
  last, and `promote` (never restored from a record: reports/promotion.md) ran and gated that model instead of
  models/lrat, or failed with "no @challenger" on a machine whose store never saw the registration.
- The data stages (up to the label gate, `validate`) also travel through an S3 remote (moto), run-cache included.

Every output a stage needs to count as up to date must reach the clone through git or the DVC remote. The `mine`
stage's judge cache (data/judge/verdicts.sqlite, `persist: true`) is git-ignored, so it has to be a cached output:
as `cache: false` it never left the first machine and every clone saw `mine` as changed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

from .servers import DUMMY_AWS, S3, VENV_BIN

pytestmark = pytest.mark.slow
DATA_STAGES = "validate"  # the S3 remote's scope: world, trajectories, ingest, split, mine, validate
OUTPUTS = ("dvc.lock", "data/ingested", "data/world", "data/runs", "data/labels", "data/judge", "metrics", "reports")
FOLDER_REMOTE = "shared"
RUN_CACHE_RESTORES = {"train"}  # in a clone without dvc.lock, after `dvc push --run-cache` (module docstring)
RUN_CACHE_RUNS = {"world", "trajectories", "ingest", "analyze", "split", "mine", "validate", "evaluate", "ablation",
                  "register", "promote", "index", "bento"}


def env() -> dict[str, str]:
    """`lrat` on PATH for the stage commands; the project's own sqlite MLflow store (mlflow.db) and BentoML store
    (.bentoml/), both git-ignored; no AWS settings from outside (the remotes' config says it all)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "BENTOML_HOME"}
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


def stages(done: subprocess.CompletedProcess) -> dict[str, set[str]]:
    """What `dvc repro` did with each stage, from its log: ran, restored from the run-cache, or skipped."""
    log = done.stdout + done.stderr
    return {"ran": set(re.findall(r"Running stage '([\w-]+)'", log)),
            "restored": set(re.findall(r"Stage '([\w-]+)' is cached - skipping run, checking out outputs", log)),
            "unchanged": set(re.findall(r"Stage '([\w-]+)' didn't change, skipping", log))}


def all_stages(work: Path) -> set[str]:
    return set(yaml.safe_load((work / "dvc.yaml").read_text(encoding="utf-8"))["stages"])


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding a copy of this project, with params made small, after `dvc repro` of every stage
    and a commit of what DVC leaves for git."""
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
    params["world"].update(n_docs=150, n_questions=80)
    # a few steps of real training, for `train` and the two models the ablation trains
    params["train"].update(base_model="base", max_rows=32, batch_size=16, max_seq_length=64)
    params["validate"].update(min_rows=5, satisfied_ratio=[0.0, 1.0], evidence_retention_min=0.0)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.email", "scale-test@example.invalid")
    git(work, "config", "user.name", "scale test")
    done = dvc(work, "repro", timeout=1800)
    assert stages(done)["ran"] == all_stages(work), done.stdout[-3000:]
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "the finished pipeline")
    assert git(work, "status", "--porcelain").stdout == ""
    return work


@pytest.fixture(scope="module")
def shared_folder(origin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """origin's outputs and run-cache pushed to a shared-folder remote (the committed default remote)."""
    store = tmp_path_factory.mktemp("dvc-store")
    dvc(origin, "remote", "add", "--default", "--force", FOLDER_REMOTE, str(store))
    git(origin, "add", ".dvc/config")
    git(origin, "commit", "-q", "-m", f"DVC remote {FOLDER_REMOTE}")
    dvc(origin, "push", "--run-cache")
    assert json.loads(dvc(origin, "status", "--cloud", "--json").stdout or "{}") == {}
    assert any((store / "runs").rglob("*"))  # the run records went too
    return store


def clone(origin: Path, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(origin), str(where))
    assert not (where / "data" / "world").exists() and not (where / "models" / "lrat").exists()
    return where


def test_a_clone_pulls_the_finished_pipeline_and_runs_no_stage(origin: Path, shared_folder: Path, tmp_path: Path):
    work = clone(origin, tmp_path / "clone")
    dvc(work, "pull", "--run-cache")
    assert (work / "models" / "lrat" / "model.safetensors").stat().st_size > 0
    assert (work / "models" / "index" / "manifest.json").is_file()
    # the judge's verdict cache is a cached output (dvc.yaml): git ignores it, DVC brings it
    assert (work / "data" / "judge" / "verdicts.sqlite").is_file()

    status = dvc(work, "status", "--json")
    assert json.loads(status.stdout or "{}") == {}, status.stdout
    again = dvc(work, "repro")
    assert stages(again) == {"ran": set(), "restored": set(), "unchanged": all_stages(work)}, again.stdout
    assert "Running stage" not in again.stdout + again.stderr, again.stdout
    assert git(work, "status", "--porcelain").stdout == ""  # nothing rewritten: not dvc.lock, not a metric
    assert "Data and pipelines are up to date." in dvc(work, "status").stdout


def test_without_dvc_lock_the_run_cache_restores_what_dvc_can(origin: Path, shared_folder: Path, tmp_path: Path):
    work = clone(origin, tmp_path / "lockless")
    (work / "dvc.lock").unlink()
    dvc(work, "pull", "--run-cache", "--allow-missing")  # the workflows' pull: with no lock, the run records only
    assert any((work / ".dvc" / "cache" / "runs").rglob("*"))
    assert not (work / "data" / "world").exists()

    done = dvc(work, "repro", "--pull", timeout=1800)
    did = stages(done)
    assert did["restored"] == RUN_CACHE_RESTORES, done.stdout[-6000:]
    assert did["ran"] == RUN_CACHE_RUNS, done.stdout[-6000:]
    assert RUN_CACHE_RESTORES | RUN_CACHE_RUNS == all_stages(work)
    # the restored model is the one origin trained, bit for bit (dvc.lock records the same hash)
    lock = yaml.safe_load((work / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    pushed = yaml.safe_load((origin / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    assert lock["train"]["outs"] == pushed["train"]["outs"]
    assert "Data and pipelines are up to date." in dvc(work, "status").stdout


def test_the_data_stages_travel_through_an_s3_remote(origin: Path, tmp_path: Path, s3: S3):
    bucket = s3.create_bucket("team-dvc")
    name, url = "s3", f"s3://{bucket}/lrat"
    dvc(origin, "remote", "add", "--force", name, url)  # beside the folder remote, which stays the default
    dvc(origin, "remote", "modify", name, "endpointurl", s3.endpoint)
    secrets = [["access_key_id", DUMMY_AWS["AWS_ACCESS_KEY_ID"]],
               ["secret_access_key", DUMMY_AWS["AWS_SECRET_ACCESS_KEY"]]]
    for key, value in secrets:  # credentials stay out of git: .dvc/config.local
        dvc(origin, "remote", "modify", "--local", name, key, value)
    git(origin, "add", ".dvc/config")
    git(origin, "commit", "-q", "-m", f"DVC remote {name}")
    assert ".dvc/config.local" not in git(origin, "ls-files").stdout.split()
    dvc(origin, "push", "-r", name, "--run-cache", "--with-deps", DATA_STAGES)
    cloud = dvc(origin, "status", "-r", name, "--cloud", "--json", "--with-deps", DATA_STAGES)
    assert json.loads(cloud.stdout or "{}") == {}, cloud.stdout
    assert s3.keys(bucket, "lrat/files/") and s3.keys(bucket, "lrat/runs/")  # outputs and run records

    # the teammate: clone, own credentials, pull
    work = clone(origin, tmp_path / "clone")
    for key, value in secrets:
        dvc(work, "remote", "modify", "--local", name, key, value)
    dvc(work, "pull", "-r", name, "--run-cache", "--with-deps", DATA_STAGES)
    assert (work / "data" / "labels" / "labels.jsonl").stat().st_size > 0
    assert (work / "data" / "judge" / "verdicts.sqlite").is_file()
    assert any((work / ".dvc" / "cache" / "runs").rglob("*"))

    status = dvc(work, "status", "--json", "--with-deps", DATA_STAGES)
    assert json.loads(status.stdout or "{}") == {}, status.stdout
    again = dvc(work, "repro", DATA_STAGES)
    assert "Running stage" not in again.stdout + again.stderr, again.stdout
    assert git(work, "status", "--porcelain").stdout == ""
