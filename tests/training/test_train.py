"""`lrat train` end to end on a tiny local model: dataset shape, an MLflow run with lineage, resume, the model."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from lrat.settings import ParamsError, Train, settings_from
from lrat.training.data import training_rows
from lrat.training.train import train

from .tiny import tiny_model

WORDS = "island ferry harbour town boat mainland museum academy founder scholar records lighthouse".split()


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


@pytest.fixture
def labels(tmp_path: Path) -> Path:
    rng = random.Random(0)
    path = tmp_path / "labels.jsonl"
    with path.open("w") as fh:
        for i in range(24):
            negs = [_text(rng, 12) + f" {j}" for j in range(rng.randint(0, 3))]
            fh.write(json.dumps({"trajectory_id": f"t{i}", "query": _text(rng, 4) + f" q{i}",
                                 "pos": _text(rng, 12) + f" p{i}", "negs": negs, "neg_ids": [str(j) for j in negs],
                                 "satisfied": i % 4 != 0, "weight": 0.5 + (i % 3) / 2, "reasoning_len": 10 + i})
                     + "\n")
    return path


def test_rows_follow_the_settings(labels: Path):
    rows, counts = training_rows(labels, Train(rows="satisfied", weights=True, n_negatives=2))
    assert counts["labels"] == 24 and counts["not_satisfied"] == 6
    assert counts["rows"] == len(rows) == 24 - 6 - counts["too_few_negatives"]
    assert all(list(r) == ["anchor", "positive", "negative_1", "negative_2", "label"] for r in rows)
    assert {r["label"] for r in rows} == {0.5, 1.0, 1.5}
    plain, _ = training_rows(labels, Train(rows="all", weights=False, n_negatives=0))
    assert len(plain) == 24 and {r["label"] for r in plain} == {1.0} and list(plain[0]) == ["anchor", "positive",
                                                                                             "label"]
    sample, counts = training_rows(labels, Train(rows="all", n_negatives=0, max_rows=5, seed=1))
    assert len(sample) == 5 and counts["sampled_out"] == 19
    assert sample == training_rows(labels, Train(rows="all", n_negatives=0, max_rows=5, seed=1))[0]


def test_label_sets_from_the_same_trajectories_sample_the_same_events(labels: Path, tmp_path: Path):
    """The ablation compares naive (every row) with filter (judge-kept rows): the judge-kept rows of the naive
    sample must be in the filter sample, whatever the file order, so the two differ only by what filtering does."""
    every, _ = training_rows(labels, Train(rows="all", n_negatives=0, max_rows=8, seed=3))
    kept, _ = training_rows(labels, Train(rows="satisfied", n_negatives=0, max_rows=8, seed=3))
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    satisfied = {row["query"] for row in rows if row["satisfied"]}
    shared = {r["anchor"] for r in every} & satisfied
    assert shared and shared <= {r["anchor"] for r in kept}
    shuffled = tmp_path / "shuffled.jsonl"
    lines = labels.read_text().splitlines()
    random.Random(5).shuffle(lines)
    shuffled.write_text("\n".join(lines) + "\n")
    again, _ = training_rows(shuffled, Train(rows="all", n_negatives=0, max_rows=8, seed=3))
    assert {r["anchor"] for r in again} == {r["anchor"] for r in every}
    other, _ = training_rows(labels, Train(rows="all", n_negatives=0, max_rows=8, seed=4))
    assert {r["anchor"] for r in other} != {r["anchor"] for r in every}


def train_config(section: dict) -> Train:
    """params.yaml's `train:` as the stage reads it."""
    return settings_from({"train": section}).train


def test_bad_settings_and_bad_rows_are_errors(labels: Path, tmp_path: Path):
    with pytest.raises(ParamsError, match="train.learning_rate: unknown key"):
        train_config({"learning_rate": 1})
    with pytest.raises(ParamsError, match="train.loss"):
        train_config({"loss": "triplet"})
    with pytest.raises(ParamsError, match="train.device"):
        train_config({"device": "tpu"})
    with pytest.raises(ParamsError, match="train.precision"):
        train_config({"precision": "fp16"})
    assert train_config({"device": "cpu", "precision": "bf16"}).precision == "bf16"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "q"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1"):
        training_rows(bad, Train())


@pytest.mark.slow
def test_a_training_run_is_tracked_resumable_and_saves_a_model(labels: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch):
    import mlflow
    from sentence_transformers import SentenceTransformer

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tiny_model(tmp_path / "tiny")
    cfg = train_config({"base_model": str(tmp_path / "tiny"), "batch_size": 4, "max_seq_length": 32,
                        "n_negatives": 1, "epochs": 1, "save_steps": 2, "experiment": "t"})
    assert isinstance(cfg, Train) and cfg.n_negatives == 1
    mining = tmp_path / "mining.json"
    mining.write_text(json.dumps({"rows": 24, "satisfied_ratio": 0.75, "groups": {"g": {"h_raw": 0.5}}}))
    summary = train(labels, tmp_path / "models" / "lrat", cfg, mining_metrics=mining,
                    metrics_out=tmp_path / "train.json", progress=False)
    assert (tmp_path / "mlflow.db").exists()  # the default store: SQLite at the repository root
    run = mlflow.get_run(summary["run_id"])
    assert run.data.params["labels.sha256"] == summary["labels_sha256"]
    assert run.data.params["loss"] == "weighted" and run.data.metrics["mining.groups.g.h_raw"] == 0.5
    history = mlflow.tracking.MlflowClient().get_metric_history(summary["run_id"], "loss")
    assert len(history) >= 2  # per-step loss
    model = SentenceTransformer(str(tmp_path / "models" / "lrat"))
    assert model.encode(["island ferry"]).shape == (1, 32)
    logged = mlflow.sentence_transformers.load_model(f"runs:/{summary['run_id']}/model")
    assert logged.encode(["island ferry"]).shape == (1, 32)
    assert json.loads((tmp_path / "train.json").read_text())["steps"] == summary["steps"] > 0
    assert not (tmp_path / "models" / ".checkpoints").exists() or not any((tmp_path / "models" / ".checkpoints")
                                                                         .iterdir())


@pytest.mark.slow
def test_an_interrupted_run_resumes_from_its_checkpoint(labels: Path, tmp_path: Path, monkeypatch):
    from transformers import TrainerCallback

    import lrat.training.train as module

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tiny_model(tmp_path / "tiny")
    cfg = train_config({"base_model": str(tmp_path / "tiny"), "batch_size": 4, "max_seq_length": 32,
                        "n_negatives": 1, "epochs": 2, "save_steps": 3, "experiment": "t"})

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 4:
                raise KeyboardInterrupt

    original = module._callback
    monkeypatch.setattr(module, "_callback", lambda: Crash())
    with pytest.raises(KeyboardInterrupt):
        train(labels, tmp_path / "m", cfg, progress=False)
    monkeypatch.setattr(module, "_callback", original)
    summary = train(labels, tmp_path / "m", cfg, progress=False)
    assert summary["resumed"] is True and summary["steps"] == 2 * -(-summary["rows"]["rows"] // 4)

