"""The team setup of "Scaling out": `lrat train`, `lrat register` and `lrat promote` run as processes against a real
`mlflow server` whose backend store is PostgreSQL and whose artifacts go to S3 (moto), proxied by the server, so the
clients hold no S3 credentials. Then the champion loads through the server and encodes.

The candidate is the tiny test BERT (tests/training/tiny.py) fine-tuned for a few steps, so every model moves
through S3 in a moment. The base model the gate compares it with (`train.base_model` in params.yaml) is the same
tiny BERT with its word embeddings blanked, so it sees only text lengths: recall@10 0.025 against the candidate's
0.047 (the same with 1 or 2 torch threads). The gate is relaxed to "any gain", so the decision is "promoted"; the
test is about where everything lands, not about model quality (the gate has its own tests in tests/registry).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.training.test_train import labels  # noqa: F401 - the fixture: 24 small label rows

from .servers import S3, VENV_BIN, mlflow_server, postgres

pytestmark = pytest.mark.slow
NAME = "lrat-retriever"


def client_env(url: str) -> dict[str, str]:
    """A client of the tracking server: its URI and nothing else. No S3 endpoint and no AWS credentials in the
    environment, so a client that went to the bucket itself instead of through the server would fail."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    return {**env, "MLFLOW_TRACKING_URI": url, "AWS_EC2_METADATA_DISABLED": "true",
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"}


def lrat(root: Path, env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "lrat.cli", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"lrat {' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}\n" \
                                 f"{done.stderr[-4000:]}"
    return done


def project(root: Path, labels_file: Path) -> None:
    """A small world, labels, the tiny model and its blank twin, and two params files: `train.yaml` fine-tunes the
    tiny model; `params.yaml`, which register and promote read, names the blank one as `train.base_model`."""
    from lrat.simulate.export import write_world
    from lrat.simulate.store import save_state
    from lrat.simulate.world import generate_world
    from tests.training.tiny import tiny_model

    root.mkdir(parents=True, exist_ok=True)
    world = generate_world(5, n_docs=300, n_questions=150)
    write_world(world, root / "data" / "world")
    save_state(world, root / "data" / "world")
    tiny_model(root / "tiny")
    blank = tiny_model()
    blank[0].auto_model.embeddings.word_embeddings.weight.data.zero_()
    blank.save_pretrained(str(root / "blank"))
    (root / "labels.jsonl").write_text(labels_file.read_text())
    common = {"seed": 13, "retrieval": {"cache_dir": str(root / ".cache" / "embeddings")},
              "registry": {"name": NAME}}
    (root / "params.yaml").write_text(yaml.safe_dump({
        **common, "train": {"base_model": str(root / "blank")},
        # any gain promotes; the labels are synthetic and never validated, and the agent-level checks cost a
        # simulation: all three are tested in tests/registry
        "promote": {"split": "test", "min_gain": 0.0, "alpha": 0.999, "max_drop": 1.0,
                    "require_validation": False, "agent": False}}))
    (root / "train.yaml").write_text(yaml.safe_dump({
        **common, "train": {"base_model": str(root / "tiny"), "batch_size": 4, "max_seq_length": 32, "epochs": 1,
                            "n_negatives": 1, "experiment": "lrat"}}))


def test_train_register_promote_on_postgres_and_s3_through_the_server(tmp_path: Path, s3: S3,
                                                                        labels: Path):  # noqa: F811
    from mlflow import MlflowClient

    work = tmp_path / "project"
    project(work, labels)
    bucket = s3.create_bucket("team-mlflow")
    with postgres(tmp_path / "logs") as pg, \
            mlflow_server(tmp_path / "logs", pg.database("mlflow"), f"s3://{bucket}/mlartifacts", s3) as url:
        env = client_env(url)
        trained = json.loads(lrat(work, env, "train", "--labels", "labels.jsonl", "--out", "models/lrat",
                                  "--params", "train.yaml", "--quiet", "--json").stdout)
        run_id = trained["run_id"]
        registered = json.loads(lrat(work, env, "register", "--model-dir", "models/lrat", "--json",
                                     "--quiet").stdout)
        version = str(registered["version"])
        done = lrat(work, env, "promote", "--world", "data/world", "--quiet")
        assert f"PROMOTED version {version}" in done.stdout + done.stderr
        record = json.loads((work / "metrics" / "promotion.json").read_text())
        assert record["decision"] == "promoted" and record["registry"]["tracking_uri"] == url

        # the champion, by alias, through the server (its artifacts come from S3 via the proxy)
        code = ("from lrat.retrieval.encoder import load_model\n"
                f"model = load_model('models:/{NAME}@champion')\n"
                "print(model.encode(['a ferry to the island']).shape)")
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip().splitlines()[-1] == "(1, 32)"

        # the server holds the run, the version and the aliases
        client = MlflowClient(tracking_uri=url, registry_uri=url)
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.info.artifact_uri.startswith("mlflow-artifacts:")
        assert client.get_experiment(run.info.experiment_id).name == "lrat"
        mv = client.get_model_version(NAME, version)
        assert mv.run_id == run_id
        assert client.get_model_version_by_alias(NAME, "champion").version == version
        assert dict(client.get_registered_model(NAME).aliases) == {"challenger": version, "champion": version}
        promotion = client.get_run(mv.tags["promotion.run_id"])
        assert promotion.data.tags["decision"] == "promoted"

        # ... in PostgreSQL
        runs = dict(pg.query("mlflow", "SELECT run_uuid, status FROM runs"))
        assert runs[run_id] == "FINISHED" and runs[promotion.info.run_id] == "FINISHED"
        assert (NAME, int(version), run_id) in pg.query("mlflow", "SELECT name, version, run_id FROM model_versions")
        assert ("champion", int(version)) in pg.query(
            "mlflow", f"SELECT alias, version FROM registered_model_aliases WHERE name = '{NAME}'")

        # ... and the artifacts in the bucket: the logged model's weights and the promotion record
        # the version's source is its logged model, models:/<model id> (over REST, ModelVersion.model_id is empty)
        assert mv.source.startswith("models:/m-"), mv.source
        location = client.get_logged_model(mv.source.removeprefix("models:/")).artifact_location
        assert location.startswith("mlflow-artifacts:/"), location
        weights = s3.keys(bucket, f"mlartifacts/{location.removeprefix('mlflow-artifacts:/').strip('/')}/")
        assert any(k.endswith("/MLmodel") for k in weights) and any(k.endswith(".safetensors") for k in weights)
        keys = s3.keys(bucket, "mlartifacts/")
        assert any(k.startswith(f"mlartifacts/{promotion.info.experiment_id}/{promotion.info.run_id}/")
                   and k.endswith("promotion.json") for k in keys), keys

    # nothing went to a local store
    assert not (work / "mlflow.db").exists() and not (work / "mlartifacts").exists()
