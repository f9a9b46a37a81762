"""`data.source: logs` end to end: a user's own corpus, queries, qrels, answers and agent run files (no world, no
splits.json, no simulation.json) through the real `dvc repro` of every stage, on a copy of the repository.

What must hold: the simulator's stages only leave a note and nothing else reads them; `lrat split` holds out
questions whose trajectories are in the logs, and none of them reaches the labels (mine leaves them out, validate
checks it); evaluation, ablation and the promotion gate score exactly the held-out questions, offline only, and
say so; the champion is registered, promoted and indexed. And a leak is caught: labels mined without the split
fail validation, naming the leaking questions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

from .user_files import UserData, build_user_files

pytestmark = pytest.mark.slow
VENV_BIN = Path(sys.executable).parent
USER = "mydata"  # the user's folder inside the project copy
# what the pipeline writes (and the repository may hold from its own runs): the copy makes its own
OUTPUTS = ("dvc.lock", "data/world", "data/runs", "data/ingested", "data/labels", "data/judge", "data/split",
           "metrics", "reports", "mlflow.db", "mlruns", "mlartifacts", ".bentoml", ".cache")
SIMULATOR_STAGES = {"world", "trajectories"}


def env() -> dict[str, str]:
    """The venv's `lrat`/`dvc` first on PATH, the copy's own sqlite MLflow store (mlflow.db), a scratch BentoML
    home (tests/conftest.py made one for this test process), no network."""
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", "MLFLOW_TRACKING_URI": "",
            "BENTOML_HOME": os.environ["BENTOML_HOME"], "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def run(cwd: Path, *cmd: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def user_data(tmp_path_factory: pytest.TempPathFactory) -> UserData:
    return build_user_files(tmp_path_factory.mktemp("user"), USER)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, user_data: UserData) -> Path:
    """A copy of the repository's files (tracked, and new ones git does not ignore) without the pipeline's
    outputs, the user's folder inside it, and params.yaml pointing `data:` at it."""
    work = tmp_path_factory.mktemp("own-logs") / "repo"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()  # the working tree's
    for name in files:
        if (REPO / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, work / name)
    for name in OUTPUTS:
        target = work / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    for target in (work / "models").iterdir():  # trained models, the index; keep models/.gitignore, .gitkeep
        if not target.name.startswith("."):
            shutil.rmtree(target) if target.is_dir() else target.unlink()
    shutil.copytree(user_data.folder, work / USER)

    params = yaml.safe_load((work / "params.yaml").read_text(encoding="utf-8"))
    params["data"] = {"source": "logs", **user_data.data_params(USER)}
    # 40 % held out (the default is 20 %): on 300 questions a 60-question test split leaves the paired t-test
    # underpowered (a run gained +0.06 recall@10 at p = 0.09); 120 questions let the gate's defaults decide
    params["split"].update(test=0.4)
    # small but real training: a fixed sample of the mined rows, short sequences (every model of the pipeline and
    # the ablation trains on it, on 2 CPU cores)
    params["train"].update(base_model="base", max_rows=320, batch_size=32, max_seq_length=96, epochs=1)
    # the promotion gate (`promote:`) keeps its defaults: +2 % search_recall@10 (the held-out questions' logged
    # searches replayed), p < 0.05, no other metric 0.01 lower
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    return work


@pytest.fixture(scope="module")
def repro(project: Path) -> subprocess.CompletedProcess:
    done = run(project, str(VENV_BIN / "dvc"), "repro", timeout=1800)
    assert done.returncode == 0, f"dvc repro exited {done.returncode}:\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    return done


def lock_deps(work: Path) -> dict[str, set[str]]:
    """stage → the paths of its deps in dvc.lock."""
    lock = yaml.safe_load((work / "dvc.lock").read_text(encoding="utf-8"))
    return {name: {dep["path"] for dep in stage.get("deps") or []} for name, stage in lock["stages"].items()}


def test_dvc_repro_on_a_users_own_logs(project: Path, repro: subprocess.CompletedProcess, user_data: UserData):
    work = project
    # every stage ran, the simulator's two only leaving a note
    stages = set(yaml.safe_load((work / "dvc.yaml").read_text(encoding="utf-8"))["stages"])
    deps = lock_deps(work)
    assert set(deps) == stages
    for folder in ("data/world", "data/runs/sim"):
        assert sorted(p.name for p in (work / folder).iterdir()) == ["SKIPPED.json"], folder
        assert "data.source is logs" in read_json(work / folder / "SKIPPED.json")["skipped"]
    for name in ("world", "agent"):
        assert "skipped" in read_json(work / "metrics" / f"{name}.json")
    for stage, paths in deps.items():
        if stage not in SIMULATOR_STAGES:
            simulated = sorted(p for p in paths if p.startswith(("data/world", "data/runs/sim")))
            assert not simulated, f"stage {stage} depends on the simulator's output: {simulated}"
    user_files = set(user_data.data_params(USER).values())
    code = deps["ingest"] - user_files  # the rest is lrat's own code (tests/test_dvc_deps.py checks it is all there)
    assert user_files <= deps["ingest"] and "src/lrat/ingest" in code and all(p.startswith("src/lrat/") for p in code)
    summary = read_json(work / "data" / "ingested" / "summary.json")
    assert summary["trajectories"] == user_data.run_files and summary["rejected"] == 0

    # the split: held-out questions the logs already answered; none of them reaches the labels
    splits = {name: set(qids) for name, qids in read_json(work / "data" / "split" / "splits.json").items()}
    test = splits["test"]
    assert test and not test & splits["train"] and splits["train"] | test <= user_data.question_ids
    split_report = read_json(work / "metrics" / "split.json")
    assert split_report["source"] == "logs"
    leaking = split_report["logs"]["held_out_questions_with_trajectories"]
    assert leaking > 0 and leaking == len(test & set(user_data.runs_by_question))
    assert split_report["logs"]["held_out_trajectories"] == sum(user_data.runs_by_question.get(q, 0) for q in test)
    assert set(split_report["logs"]["examples"]) <= test
    held = read_json(work / "metrics" / "mining.json")["held_out"]
    assert held["leaking_questions"] == leaking and set(held["questions"]) == test & set(user_data.runs_by_question)
    assert held["trajectories_left_out"] == split_report["logs"]["held_out_trajectories"]
    with (work / "data" / "labels" / "labels.jsonl").open(encoding="utf-8") as fh:
        label_questions = {str(json.loads(line)["query_id"]) for line in fh if line.strip()}
    assert label_questions and not label_questions & test
    validation = read_json(work / "metrics" / "validation.json")
    assert validation["success"] is True and validation["splits"] == "data/split/splits.json"
    check = {e["name"]: e for e in validation["expectations"]}["no_held_out_questions"]
    assert check["status"] == "passed" and check["success"] is True

    # held-out evaluation: exactly the test questions with evidence, offline only
    evidence = {line.split()[0] for line in user_data.path("qrels_evidence").read_text().splitlines() if line.strip()}
    evaluation = read_json(work / "metrics" / "eval.json")
    assert evaluation["split"] == "test" and evaluation["n_queries"] == len(test & evidence)
    assert set(evaluation["models"]) == {"base", "lrat"}
    agent_eval = read_json(work / "metrics" / "agent_eval.json")
    assert agent_eval["split"] == "test" and "data.source is logs" in agent_eval["skipped"]
    ablation = read_json(work / "metrics" / "ablation.json")
    assert set(ablation["models"]) == {"base", "naive", "filter", "lrat"}
    assert ablation["n_queries"] == evaluation["n_queries"]

    # registered, promoted by the gate (offline checks; the agent's said to be skipped), champion, indexed
    version = str(read_json(work / "metrics" / "register.json")["version"])
    promotion = read_json(work / "metrics" / "promotion.json")
    checks = {c["name"]: c for c in promotion["checks"]}
    assert promotion["decision"] == "promoted", json.dumps(checks, indent=1)
    assert str(promotion["candidate"]["version"]) == version
    assert promotion["evaluation"]["n_queries"] == evaluation["n_queries"]
    assert "data.source is logs" in promotion["evaluation"]["agent_skipped"]
    # the gate read the agent-query primary, from the held-out questions' own trajectories in the ingested logs
    queries = promotion["evaluation"]["agent_queries"]
    assert queries["source"] == "data/ingested/trajectories.jsonl" and 0 < queries["n_questions"] <= leaking
    assert "search_recall_at_10_gain" in checks and "primary_metric" not in checks
    logged = evaluation["agent_queries"]
    assert logged["source"] == "data/ingested/trajectories.jsonl" and logged["n_questions"] == queries["n_questions"]
    assert logged["trajectories_of_other_questions"] > 0  # the training questions' trajectories: never replayed
    keys = set(evaluation["models"]["lrat"]["agent_queries"])
    assert {"search_recall@10", "search_ndcg@10", "trajectory_recall@100"} <= keys
    assert any(re.fullmatch(r"trajectory_recall@\d+", k) and k != "trajectory_recall@100" for k in keys)  # the logs' k
    for name in ("agent_success", "agent_searches"):
        assert checks[name]["passed"] is None and "data.source is logs" in checks[name]["detail"]
    assert all(c["passed"] for c in checks.values() if not c["name"].startswith("agent_"))
    report = (work / "reports" / "promotion.md").read_text(encoding="utf-8")
    assert "promoted" in report.lower() and "data.source is logs" in report
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{work / 'mlflow.db'}")
    name = yaml.safe_load((work / "params.yaml").read_text(encoding="utf-8"))["registry"]["name"]
    assert str(client.get_model_version_by_alias(name, "champion").version) == version
    with sqlite3.connect(work / "mlflow.db") as db:  # the store is the copy's own
        assert db.execute("select count(*) from registered_models").fetchone()[0] >= 1
    manifest = read_json(work / "models" / "index" / "manifest.json")
    assert str(manifest["model"]["version"]) == version  # the champion's index
    assert manifest["corpus"]["path"] == user_data.data_params(USER)["corpus"]
    assert manifest["corpus"]["n_docs"] == user_data.n_docs

    print(f"\nsplit {split_report['splits']}, held-out questions with trajectories {leaking} "
          f"({split_report['logs']['held_out_trajectories']} trajectories); "
          f"recall@10 base {evaluation['models']['base']['recall@10']:.4f} vs lrat "
          f"{evaluation['models']['lrat']['recall@10']:.4f} on {evaluation['n_queries']} questions; promotion "
          f"{promotion['decision']} (p = {checks['search_recall_at_10_significance']['observed']})")


def test_labels_mined_without_the_split_fail_validation(project: Path, repro: subprocess.CompletedProcess):
    """The user's logs hold held-out questions' trajectories: mined without --splits they reach the labels, and
    the gate names them."""
    work = project
    lrat = str(VENV_BIN / "lrat")
    params = yaml.safe_load((work / "params.yaml").read_text(encoding="utf-8"))
    scratch = work / "leak"
    mined = run(work, lrat, "mine", "--trajectories", "data/ingested/trajectories.jsonl", "--corpus",
                params["data"]["corpus"], "--out", "leak/other.jsonl", "--metrics", "leak/mining.json",
                "--judge-cache", "leak/verdicts.sqlite", "--quiet")
    assert mined.returncode == 0, mined.stderr[-4000:]
    assert read_json(scratch / "mining.json")["held_out"]["leaking_questions"] == 0  # nothing checked, nothing left
    checked = run(work, lrat, "validate", "--labels", "leak/other.jsonl", "--splits", "data/split/splits.json",
                  "--out", "leak/validation.json", "--report", "leak/validation.md")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "no_held_out_questions" in checked.stderr
    result = read_json(scratch / "validation.json")
    failed = {e["name"]: e for e in result["expectations"] if e["status"] == "failed"}
    assert result["success"] is False and set(failed) == {"no_held_out_questions"}
    leaking = failed["no_held_out_questions"]["details"]["questions"]
    test = set(read_json(work / "data" / "split" / "splits.json")["test"])
    assert leaking and set(leaking) <= test
    assert failed["no_held_out_questions"]["observed"]["questions"] == len(leaking)
    named = [q for q in leaking if re.search(rf"(?<![\w]){re.escape(q)}(?![\w])", checked.stderr)]
    assert named, f"none of the leaking questions {leaking[:20]} named in:\n{checked.stderr}"
